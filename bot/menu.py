"""The main menu and the reply-keyboard buttons, recognised in every language the bot speaks."""

from __future__ import annotations

from telegram import KeyboardButton, Message, ReplyKeyboardMarkup
from telegram.ext import filters

from bot.i18n import LOCALES, N_, Translate, translator

MAIN_MENU = {
    "report": N_("Report a problem"),
    "proposal": N_("Make a proposal"),
    "status": N_("Check a case"),
    "mine": N_("My cases"),
    "proposals": N_("Proposals nearby"),
    "help": N_("Help"),
}
#: The menu's Chinese names as the service calls them, understood even when typed by hand (and
#: whatever the catalogue's wording).
ALIASES = {
    MAIN_MENU["report"]: ("反映问题",),
    MAIN_MENU["proposal"]: ("提建议",),
    MAIN_MENU["status"]: ("查询进度",),
    MAIN_MENU["mine"]: ("我的事项",),
    MAIN_MENU["proposals"]: ("附近的建议",),
    MAIN_MENU["help"]: ("帮助",),
}
SHARE_LOCATION = N_("Share my location")
SHARE_PHONE = N_("Share my phone number")
NO_PHONE = N_("No phone number")
SKIP = N_("Skip")
NEXT = N_("Next")
CANCEL = N_("Cancel")
ALL_PROPOSALS = N_("All proposals")


def label_matches(text: str | None, msgid: str) -> bool:
    """Whether ``text`` is the button ``msgid`` in any of the bot's languages."""
    if not text:
        return False
    text = text.strip()
    if text == msgid or text in ALIASES.get(msgid, ()):
        return True
    return any(translator(locale)(msgid) == text for locale in LOCALES)


def menu_choice(text: str | None) -> str | None:
    for key, msgid in MAIN_MENU.items():
        if label_matches(text, msgid):
            return key
    return None


class LabelFilter(filters.MessageFilter):
    """Text messages that are one of the given buttons (in any language)."""

    def __init__(self, *msgids: str) -> None:
        super().__init__(name=f"LabelFilter{msgids}")
        self.msgids = msgids

    def filter(self, message: Message) -> bool:
        return any(label_matches(message.text, m) for m in self.msgids)


MENU_BUTTONS = LabelFilter(*MAIN_MENU.values())
STEP_BUTTONS = LabelFilter(SKIP, NEXT, NO_PHONE, CANCEL, ALL_PROPOSALS)
#: Free text a resident typed (not a command, not a button of ours).
FREE_TEXT = filters.TEXT & ~filters.COMMAND & ~MENU_BUTTONS & ~STEP_BUTTONS


def main_menu_keyboard(_: Translate) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [
            [KeyboardButton(_(MAIN_MENU["report"])), KeyboardButton(_(MAIN_MENU["proposal"]))],
            [KeyboardButton(_(MAIN_MENU["status"])), KeyboardButton(_(MAIN_MENU["mine"]))],
            [KeyboardButton(_(MAIN_MENU["proposals"])), KeyboardButton(_(MAIN_MENU["help"]))],
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


def help_text(_: Translate) -> str:
    return "\n".join(
        [
            _("How I can help:"),
            _(
                "• Report a problem: describe it in your own words; I show what I understood, you "
                "can add the place, photos and a phone number, then confirm."
            ),
            _("• Make a proposal: suggest an improvement for your neighbourhood."),
            _("• Check a case: /status followed by the tracking number."),
            _("• My cases: the cases you reported or follow."),
            _(
                "• Proposals nearby: see what neighbours propose, support them and comment. If "
                "the portal asks you to verify: /verify shows a button that confirms your phone "
                "number (Telegram has checked it); /verify CODE uses a code from your community "
                "office."
            ),
            _(
                "• /language switches between Chinese and English; /cancel stops what you are doing."
            ),
            _(
                "• /link CODE connects this chat to your portal account (the code is on your "
                "account page)."
            ),
            _("Your name is never published, and personal details in your text are masked."),
        ]
    )
