"""Personal data protection: sensitivity levels, encryption at rest, need-to-know reveals,
residents' rights (notice, export, erasure) and retention."""

from __future__ import annotations

from typing import Any

from portal.privacy.crypto import install_key_ring
from portal.privacy.redaction import install_log_redaction


def install_privacy(app: Any) -> None:
    """Load the data key ring for ``app`` and redact secrets and identifiers from all logs."""
    install_key_ring(app)
    install_log_redaction()
