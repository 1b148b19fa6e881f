"""The report: one JSON document and the Markdown rendering of it. Pure but for writing files.

The JSON holds everything (machine, parameters, every measurement, the verdicts, LongMemEval
per mode and question type); the Markdown is made from the JSON alone, so the two never
disagree.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["RESULTS_DIR", "render_markdown", "write_report"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"

_METRIC_HEADERS = (
    ("turn_any_at_5", "turn any@5"),
    ("turn_any_at_10", "turn any@10"),
    ("session_any_at_5", "session any@5"),
    ("session_all_at_5", "session all@5"),
)


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _machine(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    return [
        f"- Machine: {m['cores']} cores, {m['cpu_model']}, {m['ram_gb']} GB RAM; {m['os']}",
        f"- Load average (1/5/15 min) at start {m.get('load_average_at_start')}, at end "
        f"{m.get('load_average_at_end')}: above ~0.5, other work shared the 2 cores",
        f"- Python {m['python']}, SQLite {m['sqlite']}; {packages}",
        f"- Commit {m['git_commit']}; run `{report['command']}` ({report['mode']}), "
        f"{report['duration_s']:.0f} s in all",
        f"- Parameters: `{json.dumps(report['parameters'], sort_keys=True)}`",
    ]


def _verdicts(report: dict[str, Any]) -> list[str]:
    rows = []
    for v in report["targets"]:
        met = {True: "**met**", False: "**missed**", None: "not run"}[v["met"]]
        where = _num(v["measured_at_n"]) if v["measured_at_n"] is not None else "-"
        layout = v["layout"] or "-"
        digits = 2 if v["unit"] else 3
        measured = (
            "-" if v["measured"] is None else f"{_num(v['measured'], digits)} {v['unit']}".strip()
        )
        rows.append([v["operation"], layout, v["target"], measured, where, met, v["note"]])
    return _table(["operation", "layout", "target", "measured", "at N", "verdict", "note"], rows)


def _latency(report: dict[str, Any]) -> list[str]:
    timed = [m for m in report["latency"] if m["summary"] is not None and m["unit"] == "ms"]
    rows = []
    for m in timed:
        s = m["summary"]
        rows.append(
            [
                m["label"],
                m["layout"] or "-",
                _num(m["n"]),
                _num(s["p50"]),
                _num(s["p95"]),
                _num(s["p99"]),
                _num(s["count"]),
            ]
        )
    lines = _table(["operation", "layout", "N", "p50 ms", "p95 ms", "p99 ms", "reps"], rows)
    values = [m for m in report["latency"] if m not in timed]
    value_rows = [
        [
            m["label"],
            m["layout"] or "-",
            _num(m["n"]),
            f"{_num(m['value'])} {m['unit']}",
            m["notes"],
        ]
        for m in values
    ]
    lines += ["", *_table(["operation", "layout", "N", "value", "notes"], value_rows)]
    noted = [m for m in timed if m["notes"]]
    if noted:
        lines.append("")
        lines += [f"- {m['label']} ({_num(m['n'])}): {m['notes']}" for m in noted[:1]]
        lines += [f"- {m['label']}: {m['notes']}" for m in noted if m["op"].endswith("_1m")]
    return lines


def _quality(quality: dict[str, Any]) -> list[str]:
    lines = [
        f"{quality['questions']} questions (abstention questions skipped), "
        f"{quality['turns']:,} turns; {quality['seconds']:.0f} s in all. "
        f"Hybrid settings: `{json.dumps(quality['hybrid_settings'], sort_keys=True)}`.",
        "",
    ]
    headers = ["mode", *(h for _, h in _METRIC_HEADERS), "search p50 ms", "ingest s/question"]
    rows = []
    for mode, data in quality["modes"].items():
        overall = data["by_type"]["overall"]
        rows.append(
            [
                mode,
                *(_num(overall[key], 3) for key, _ in _METRIC_HEADERS),
                _num(data["search_ms_p50"]),
                _num(data["ingest_s_mean"]),
            ]
        )
    lines += _table(headers, rows)
    for mode, data in quality["modes"].items():
        lines += ["", f"**{mode}**, per question type:", ""]
        type_rows = [
            [name, _num(row["questions"]), *(_num(row[key], 3) for key, _ in _METRIC_HEADERS)]
            for name, row in data["by_type"].items()
        ]
        lines += _table(["type", "questions", *(h for _, h in _METRIC_HEADERS)], type_rows)
    experiments = quality.get("experiments") or []
    if experiments:
        lines += ["", "### Alternatives measured (same questions)", ""]
        exp_rows = [
            [
                e["name"],
                *(_num(e["overall"].get(key), 3) for key, _ in _METRIC_HEADERS),
                " / ".join(_num(h.get("turn_any_at_5")) for h in e.get("halves", [])) or "-",
                e["note"],
            ]
            for e in experiments
        ]
        headers = ["variant", *(h for _, h in _METRIC_HEADERS), "any@5 even/odd q", "what"]
        lines += _table(headers, exp_rows)
    return lines


def _injection(injection: dict[str, Any]) -> list[str]:
    cost = injection["stage_cost_us"]
    lines = [
        f"{injection['cases']} cases ({injection['answered']} with an answer, "
        f"{injection['unrelated']} unrelated), {injection['memories_per_user']} memories per "
        f"user; the defaults match the wrapper's own path on "
        f"{injection['defaults_match_the_wrapper']} cases. Added stages: query "
        f"{cost['query_p50']} / {cost['query_p95']} us, decision {cost['decision_p50']} / "
        f"{cost['decision_p95']} us (p50 / p95). {injection['seconds']:.0f} s.",
        "",
    ]
    rows = [
        [
            v["name"],
            _num(v["relevant_injected"], 3),
            _num(v["unrelated_nothing"], 3),
            _num(v["direct"], 3),
            _num(v["paraphrase"], 3),
            _num(v["follow-up"], 3),
            f"{_num(v['relevant_a'], 3)} / {_num(v['relevant_b'], 3)}",
            f"{_num(v['unrelated_a'], 3)} / {_num(v['unrelated_b'], 3)}",
            _num(v["mean_injected_answered"]),
            v["note"],
        ]
        for v in injection["variants"]
    ]
    headers = [
        "variant",
        "relevant injected",
        "unrelated: nothing",
        "direct",
        "paraphrase",
        "follow-up",
        "relevant a / b",
        "unrelated a / b",
        "injected per answered",
        "what",
    ]
    return lines + _table(headers, rows)


def _locomo(locomo: dict[str, Any]) -> list[str]:
    lines = [f"Conversations {', '.join(locomo['conversations'])}; {locomo['seconds']:.0f} s.", ""]
    for setting, metrics in (("facts", ("any@5", "R@5")), ("turns", ("R@5", "R@10"))):
        kinds = ("overall", "single-hop", "multi-hop", "temporal", "open-domain")
        rows = []
        for v in locomo[setting]:
            by = v["by_category"]
            rows.append(
                [
                    v["name"],
                    *(
                        " / ".join(_num(by[k][m], 3) for m in metrics) if k in by else "-"
                        for k in kinds
                    ),
                    str(by["overall"]["questions"]),
                ]
            )
        lines += [f"**{setting}** ({' / '.join(metrics)})", ""]
        lines += _table(["variant", *kinds, "questions"], rows)
        lines.append("")
    return lines


def _locomo_wrapper(retrieval: dict[str, Any]) -> list[str]:
    rows = [
        [
            r["name"],
            _num(r["relevant_injected"], 3),
            _num(r["unrelated_nothing"], 3),
            _num(r["mean_injected"], 2),
            f"{r['questions']} / {r['unrelated']}",
        ]
        for r in retrieval["locomo_wrapper"]
    ]
    headers = ["memories", "relevant injected", "unrelated: nothing", "injected", "questions"]
    return _table(headers, rows)


def _duplicates(restated: dict[str, Any]) -> list[str]:
    sims = restated["similarity"]
    lines = [
        f"{restated['restated_pairs']} restatements, {restated['distinct_pairs']} different facts "
        f"alike; similarity (min / median / max) restated {sims['restated_min_median_max']}, "
        f"different {sims['distinct_min_median_max']}.",
        "",
    ]
    rows = [
        [
            r["name"],
            f"{r['restatements_recognised']} / {restated['restated_pairs']}",
            f"{r['different_facts_lost']} / {restated['distinct_pairs']}",
            "; ".join(r["lost"]) or "-",
            r["note"],
        ]
        for r in restated["rules"]
    ]
    headers = ["rule", "restatements recognised", "different facts lost", "lost", "what"]
    return lines + _table(headers, rows)


def render_markdown(report: dict[str, Any]) -> str:
    lines = ["# headroom benchmark report", "", *_machine(report), ""]
    if report.get("targets"):
        lines += ["## Targets", "", *_verdicts(report), ""]
    if report["latency"]:
        lines += ["## Latency", "", *_latency(report), ""]
    retrieval = report.get("retrieval")
    if retrieval:
        lines += ["## Injection decision (case set)", "", *_injection(retrieval["injection"]), ""]
        lines += ["## LoCoMo retrieval (development conversations)", ""]
        lines += _locomo(retrieval["locomo"])
        if "locomo_wrapper" in retrieval:
            lines += ["**facts through the wrapper**", "", *_locomo_wrapper(retrieval)]
            lines.append("")
        if "duplicates" in retrieval:
            lines += ["## Restated memories (pairs)", "", *_duplicates(retrieval["duplicates"])]
            lines.append("")
    if report.get("quality"):
        lines += ["## LongMemEval retrieval (development slice)", "", *_quality(report["quality"])]
        lines.append("")
    if report.get("telemetry"):
        from benchmarks.telemetry_cost import render

        lines += ["## Telemetry cost", "", *render(report["telemetry"]), ""]
    if report.get("follow"):
        from benchmarks.follow_cost import render as render_follow

        lines += ["## Following other processes", "", *render_follow(report["follow"]), ""]
    if report.get("bulk"):
        from benchmarks.bulk_ingest import render as render_bulk

        lines += ["## Bulk ingest", "", *render_bulk(report["bulk"]), ""]
    lines.append(f"Generated by `{report['command']}`; see docs/performance.md.")
    return "\n".join(lines) + "\n"


def write_report(
    report: dict[str, Any], directory: Path = RESULTS_DIR, stem: str = "latest"
) -> Path:
    """Write ``<stem>.json`` and ``<stem>.md`` atomically; the Markdown path."""
    directory.mkdir(parents=True, exist_ok=True)
    outputs = {
        directory / f"{stem}.json": json.dumps(report, indent=2, sort_keys=False) + "\n",
        directory / f"{stem}.md": render_markdown(report),
    }
    for path, text in outputs.items():
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return directory / f"{stem}.md"
