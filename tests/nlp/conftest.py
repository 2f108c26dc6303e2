"""Fixtures for the NLP engine tests: a tiny labelled corpus, a model trained on it, and
the default model (trained from the seed corpus once per session)."""

from __future__ import annotations

import pytest

from nlp.corpus import Example

# Written for these tests: four groups, a few messages each, with categories, kinds and
# urgency levels.
TINY = [
    (
        "小区门口的路灯坏了一个月，晚上很黑，请市政尽快修理",
        "城乡建设",
        "城市建设和市政管理",
        "complaint",
        "normal",
    ),
    ("人行道上的井盖没了，有人差点掉进去", "城乡建设", "城市建设和市政管理", "complaint", "urgent"),
    (
        "楼下违章搭建的铁皮房占了消防通道，物业不管",
        "城乡建设",
        "城市建设和市政管理",
        "complaint",
        "urgent",
    ),
    (
        "开发商延期交房半年了，购房合同写的是去年年底",
        "城乡建设",
        "住房保障与房地产",
        "complaint",
        "normal",
    ),
    ("请问公租房申请需要哪些材料？", "城乡建设", "住房保障与房地产", "inquiry", "normal"),
    (
        "建议老旧小区改造时加装电梯，老人上下楼太难",
        "城乡建设",
        "住房保障与房地产",
        "proposal",
        "normal",
    ),
    ("工厂晚上偷排废水，河水发黑发臭", "环境保护", "环境污染", "complaint", "urgent"),
    ("烧烤店油烟直排，家里窗户都不敢开", "环境保护", "环境污染", "complaint", "normal"),
    ("工地夜间施工噪音扰民，凌晨两点还在打桩", "环境保护", "环境污染", "complaint", "normal"),
    ("搅拌站粉尘太大，整个村子灰蒙蒙的", "环境保护", "环境污染", "complaint", "normal"),
    ("请问新建化工厂的环评公示在哪里可以看到？", "环境保护", "建设项目审批", "inquiry", "normal"),
    ("建议在河边多设几个垃圾分类回收点", "环境保护", "环保管理", "proposal", "normal"),
    ("公司拖欠工资三个月了，老板电话也不接", "劳动和社会保障", "工资福利", "complaint", "urgent"),
    ("工地农民工讨薪无门，包工头跑路了", "劳动和社会保障", "工资福利", "complaint", "urgent"),
    ("请问灵活就业人员社保怎么缴费？", "劳动和社会保障", "城镇职工社会保险", "inquiry", "normal"),
    ("单位不给交五险一金，也不签劳动合同", "劳动和社会保障", "劳动关系", "complaint", "normal"),
    ("退休金今年调整了吗，什么时候发放？", "劳动和社会保障", "退休政策及待遇", "inquiry", "normal"),
    (
        "感谢社保局窗口的工作人员耐心帮我办理医保转移",
        "劳动和社会保障",
        "城镇居民社会保险",
        "praise",
        "normal",
    ),
    ("学校强制学生购买教辅资料，家长负担很重", "教育文体", "教育收费", "complaint", "normal"),
    ("老师课外有偿补课，不去的学生被区别对待", "教育文体", "教师队伍和待遇", "complaint", "normal"),
    ("请问今年小学入学划片范围什么时候公布？", "教育文体", "考试招生", "inquiry", "normal"),
    ("建议体育馆晚上对市民免费开放", "教育文体", "体育", "proposal", "normal"),
    ("幼儿园收费太高，公办学位太少", "教育文体", "教育收费", "complaint", "normal"),
    ("表扬实验小学的班主任，对孩子非常负责", "教育文体", "教师队伍和待遇", "praise", "normal"),
    ("楼道里有很浓的煤气味，怕是燃气泄漏了", "城乡建设", "安全生产", "complaint", "emergency"),
    ("隔壁仓库着火了，浓烟很大", "城乡建设", "安全生产", "complaint", "emergency"),
    ("化工厂爆炸了，附近居民都闻到刺鼻气味", "环境保护", "环境污染", "complaint", "emergency"),
    ("工地塌方，有工人被埋", "劳动和社会保障", "劳动保护", "complaint", "emergency"),
]


def tiny_examples() -> list[Example]:
    return [Example(t, g, c, k, u) for t, g, c, k, u in TINY]


@pytest.fixture(scope="session")
def tiny_rows():
    return list(TINY)


@pytest.fixture(scope="session")
def tiny_model():
    from nlp.model import train

    return train(tiny_examples(), data_sha256="0" * 64, source="tests", name="tiny")


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_model, tmp_path_factory):
    from nlp.model import save_model

    return save_model(tiny_model, tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def default_model():
    """The shipped default model (built from the seed corpus on first use, then cached in
    the per-user cache directory or $SHUZHI_NLP_MODEL_DIR)."""
    import nlp

    return nlp.default_model()
