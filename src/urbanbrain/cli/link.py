"""`urbanbrain link ...`: one ID for people, organisations and addresses (entity resolution).

    urbanbrain link kind define publication --field title=text --field authors=name
    urbanbrain link map person                 # propose mappings from column names and save them
    urbanbrain link map organisation DATASET   # propose one dataset's columns (names and values), with reasons
    urbanbrain link train person               # fit the linkage model on the mapped records
    urbanbrain link run person [--full]        # link into registry.person.* (incremental by default)
    urbanbrain link status person
    urbanbrain link evaluate                   # precision / recall / F1 against the demo's truth
    urbanbrain link evaluate KIND --truth FILE # pairwise and B³ scores against a labelled file
    urbanbrain link review person / decide person PAIR approved|rejected
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from urbanbrain.cli.acting import AsOption, acting_principal
from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_record, emit_rows
from urbanbrain.core.lazy import lazy_function, lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.link import golden, kinds, mapping, review, service, store
    from urbanbrain.link.run import run_link, train_kind
else:
    golden = lazy_module("urbanbrain.link.golden")
    kinds = lazy_module("urbanbrain.link.kinds")
    mapping = lazy_module("urbanbrain.link.mapping")
    review = lazy_module("urbanbrain.link.review")
    service = lazy_module("urbanbrain.link.service")
    store = lazy_module("urbanbrain.link.store")
    run_link = lazy_function("urbanbrain.link.run", "run_link")
    train_kind = lazy_function("urbanbrain.link.run", "train_kind")

app = typer.Typer(no_args_is_help=True)
kind_app = typer.Typer(no_args_is_help=True, help="Entity kinds: presets and the steward's own.")
app.add_typer(kind_app, name="kind")
KindArg = Annotated[str, typer.Argument(help="person, organisation, address or a kind you defined.")]


@kind_app.command("list")
def kind_list(fmt: FormatOption = Format.table) -> None:
    """Every kind with its fields (and their comparison types) and mode."""
    rows = [{"kind": k.name, "prefix": k.prefix, "mode": k.mode, "preset": k.preset,
             "fields": ", ".join(f"{f}:{t}" for f, t in k.fields.items())} for k in kinds.all_kinds().values()]
    emit_rows(rows, fmt, columns=["kind", "prefix", "mode", "preset", "fields"], title="entity kinds")


@kind_app.command("define")
def kind_define(name: Annotated[str, typer.Argument(help="Lower-case name, e.g. publication.")],
                field: Annotated[list[str], typer.Option("--field", "-f", help="name=TYPE, repeatable; TYPE: "
                                                         + ", ".join(kinds.COMPARISON_TYPES))],
                prefix: Annotated[str | None, typer.Option("--prefix", help="Three-letter ID prefix.")] = None,
                mode: Annotated[str, typer.Option("--mode", help="dedupe or link_only.")] = "dedupe",
                threshold: Annotated[float, typer.Option("--threshold", help="Link at or above.")] = 0.95,
                replace: Annotated[bool, typer.Option("--replace", help="Redefine an existing kind.")] = False,
                ) -> None:
    """Define an entity kind: its fields and how each is compared."""
    pairs = [f.split("=", 1) for f in field]
    bad = [f for f, p in zip(field, pairs, strict=True) if len(p) != 2]
    if bad:
        raise typer.BadParameter(f"--field {bad[0]!r}: write name=TYPE")
    kind = kinds.define_kind(name, {a.strip(): b.strip() for a, b in pairs}, prefix=prefix, mode=mode,
                             threshold=threshold, replace=replace)
    console.print(f"defined {kind.name} ({kind.prefix}): {', '.join(f'{f}:{t}' for f, t in kind.fields.items())}; "
                  f"map datasets with `urbanbrain link map {kind.name} DATASET`")


@kind_app.command("mode")
def kind_mode(kind: KindArg, mode: Annotated[str, typer.Argument(help="dedupe or link_only.")]) -> None:
    """Deduplicate within and across sources, or link two sources only (no within-source pairs)."""
    kinds.set_mode(kind, mode)
    console.print(f"{kind}: {mode}; the next `urbanbrain link run {kind}` retrains for it")


@kind_app.command("remove")
def kind_remove(kind: KindArg) -> None:
    """Remove a steward-defined kind (its mappings stay until removed)."""
    kinds.remove_kind(kind)
    console.print(f"removed kind {kind}")


@app.command("map")
def map_(kind: KindArg,
         dataset: Annotated[str | None, typer.Argument(help="department.system.object to map.")] = None,
         column: Annotated[list[str] | None, typer.Option(
             "--column", "-c", help="field=column, field=a+b (joined), field==EXPRESSION, field= (drop); "
                                    "repeatable; overrides the current mapping's fields.")] = None,
         key: Annotated[str | None, typer.Option("--key", help="The record key column.")] = None,
         priority: Annotated[int | None, typer.Option("--priority", help="Survivorship priority (lower wins).")] = None,
         date_column: Annotated[str | None, typer.Option("--date-column", help="Dates each record.")] = None,
         remove: Annotated[bool, typer.Option("--remove", help="Remove this dataset's mapping.")] = False,
         fmt: FormatOption = Format.table) -> None:
    """Show, propose, override or remove the datasets mapped to a kind.

    No DATASET: proposals for every dataset (when none is saved yet). DATASET alone: a proposal for that
    dataset from column names and values, with reasons. DATASET --column: change the given fields.
    """
    mapping.check_kind(kind)
    if dataset and remove:
        mapping.remove_mapping(kind, dataset)
    elif dataset and column:
        mapping.override(kind, dataset, column, key=key, priority=priority, date_column=date_column)
    elif dataset:
        proposed = mapping.propose_dataset(kind, dataset, key)
        if priority is not None:
            proposed.priority = priority
        proposed.date_column = date_column
        mapping.set_mapping(proposed)
        for fld, why in proposed.reasons.items():
            console.print(f"  {fld}: {why}")
    elif not mapping.load_mappings(kind):
        proposed_all = mapping.propose_all(kind)
        mapping.save_mappings([*mapping.load_mappings(), *proposed_all])
        console.print(f"proposed {len(proposed_all)} mapping(s) from column names; saved to {mapping.mappings_path()}")
    rows = [{"dataset": m.dataset, "key": m.key_column,
             "columns": ", ".join(f"{f}={'+'.join(c) if isinstance(c, list) else c}" for f, c in m.columns.items()),
             "priority": m.priority, "date_column": m.date_column} for m in mapping.load_mappings(kind)]
    emit_rows(rows, fmt, columns=["dataset", "key", "columns", "priority", "date_column"], title=f"{kind} mappings")


@app.command("train")
def train(kind: KindArg) -> None:
    """Fit the kind's linkage model (m/u parameters) on the mapped records and save it."""
    train_kind(mapping.check_kind(kind))
    meta = store.load_model_meta(kind)
    console.print(f"[green]trained[/green] the {kind} model ({meta.get('engine')} engine, {meta.get('mode')}); "
                  f"`urbanbrain link run {kind}` uses it")
    plan = meta.get("plan") or {}
    for rule in plan.get("blocking", []):
        console.print(f"  blocks on {' + '.join(rule)}: {plan['pair_counts'].get(' + '.join(rule))} pairs")
    for rule in plan.get("prior_rules", []):
        count = plan["pair_counts"].get("prior: " + " + ".join(rule))
        console.print(f"  deterministic rule {' + '.join(rule)}: {count} pairs")
    for note in meta.get("notes", []):
        console.print(f"  {note}")


@app.command("run")
def run(kind: KindArg, full: Annotated[bool, typer.Option("--full", help="Re-link every record.")] = False,
        fmt: FormatOption = Format.table) -> None:
    """Link the kind's records into its base registry (incremental after the first run)."""
    emit_record(run_link(kind, full=full).as_dict(), fmt, title=f"link run: {kind}")


@app.command("status")
def status(kind: KindArg, fmt: FormatOption = Format.table) -> None:
    """Records, entities, events and pending reviews of a registry."""
    emit_record(service.status(kind), fmt, title=f"registry.{kind}")


@app.command("evaluate")
def evaluate(kind: Annotated[str | None, typer.Argument(help="One kind (default: all run so far).")] = None,
             truth: Annotated[Path | None, typer.Option("--truth", help="Labelled pairs or clusters (CSV/Parquet).")]
             = None,
             left: Annotated[str | None, typer.Option("--left", help="Dataset of a pair file's first column.")] = None,
             right: Annotated[str | None, typer.Option("--right", help="Dataset of its second column.")] = None,
             fmt: FormatOption = Format.table, output: OutputOption = None) -> None:
    """Pairwise (and with --truth, B³) precision, recall and F1: against a labelled file, or the demo city's truth."""
    if truth is not None:
        if not kind:
            raise typer.BadParameter("--truth needs the KIND whose registry it scores")
        from urbanbrain.link.truth import evaluate_file

        result = evaluate_file(mapping.check_kind(kind), truth, left=left, right=right).as_dict()
        emit_rows([{"kind": kind, **result}], fmt, columns=["kind", "records", "precision", "recall", "f1",
                                                            "b3_precision", "b3_recall", "b3_f1", "predicted_pairs",
                                                            "true_pairs"],
                  title=f"link evaluation against {truth.name}: {result['format']}", output=output)
        return
    kinds_ = (mapping.check_kind(kind),) if kind else mapping.KINDS
    rows = [{"kind": k, **s} for k, s in service.evaluate_all(kinds_).items()]
    emit_rows(rows, fmt, columns=["kind", "records", "precision", "recall", "f1", "predicted_pairs", "true_pairs"],
              title="link evaluation (demo ground truth)", output=output)


@app.command("review")
def review_(kind: KindArg, status: Annotated[str, typer.Option("--status")] = "pending",
            fmt: FormatOption = Format.table) -> None:
    """Uncertain pairs waiting for a steward (or decided ones with --status approved|rejected)."""
    rows = [{"pair_id": r["pair_id"], "probability": round(float(str(r["probability"])), 3),
             "left": r["left"].get("name") or r["left"].get("address_std") if isinstance(r["left"], dict) else "",
             "right": r["right"].get("name") or r["right"].get("address_std") if isinstance(r["right"], dict) else "",
             "status": r["status"]} for r in review.queue(mapping.check_kind(kind), status)]
    emit_rows(rows, fmt, columns=["pair_id", "probability", "left", "right", "status"], title=f"{kind} review")


@app.command("decide")
def decide(kind: KindArg, pair_id: Annotated[str, typer.Argument(help="From `urbanbrain link review`.")],
           decision: Annotated[str, typer.Argument(help="approved or rejected.")], as_: AsOption = None) -> None:
    """Approve or reject a queued pair; later runs apply the decision."""
    review.decide(mapping.check_kind(kind), pair_id, decision, by=acting_principal(as_))
    console.print(f"{decision} {pair_id}; the next `urbanbrain link run {kind}` applies it")


@app.command("rule")
def rule(kind: KindArg, attribute: Annotated[str, typer.Argument()],
         rule_name: Annotated[str, typer.Argument(
             metavar="RULE", help="most_frequent, most_recent or source_priority (golden.RULES)")]) -> None:
    """Change the survivorship rule of one attribute of a kind's golden records."""
    rules = golden.set_rule(mapping.check_kind(kind), attribute, rule_name)
    console.print(", ".join(f"{a}={r}" for a, r in rules.items()))


@app.command("show")
def show(entity_id: Annotated[str, typer.Argument(help="e.g. PID0000000001")], fmt: FormatOption = Format.table,
         ) -> None:
    """One entity: its golden record, linked source records and history."""
    data = service.entity(entity_id)
    emit_record(data["golden"], fmt, title=f"{data['kind']} {entity_id}")
    emit_rows(data["links"], fmt, columns=["source_dataset", "record_key", "match_probability"], title="linked records")
    if data["events"]:
        emit_rows(data["events"], fmt, columns=["at", "event", "entity_id", "other_entity_id", "records"],
                  title="events")
