"""Every action text and standing duty in the config is quoted, to the letter, from its clause."""

from __future__ import annotations

from router.plan.config import RoutingConfig
from router.plan.coverage import plan_coverage
from router.plan.text import PlanText


def test_every_quote_stands_in_its_clause(config: RoutingConfig) -> None:
    coverage = plan_coverage(config, None)
    assert coverage.misquotes == ()
    assert coverage.without_rules == ()


def test_quote_check_is_clause_specific(config: RoutingConfig) -> None:
    plan = PlanText.parse(config.plan_text())
    assert plan.contains("4.3", "要第一时间报告本级防汛抗旱指挥部、地质灾害应急指挥部")
    assert not plan.contains("4.4", "要第一时间报告本级防汛抗旱指挥部、地质灾害应急指挥部")
    assert plan.contains("4.4", "通信管理部门要协调基础电信运营单位在30分钟内启动发送工作")  # the plan writes "30 分钟"
    assert plan.contains("5.3", "公安部门对积水地区实行交通引导或管制")  # sub-clauses count for their parent


def test_plan_headings_are_the_plans(config: RoutingConfig) -> None:
    plan = PlanText.parse(config.plan_text())
    assert plan.titles["4.3"] == "高级别气象预警直报机制"
    assert plan.titles["5.3.11"] == "干旱"
    assert "12" not in plan.titles  # a body line starting "12 小时…" is not a heading
    for clause, title in config.plan.clauses.items():
        assert plan.titles[clause] == title
