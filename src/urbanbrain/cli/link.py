"""`urbanbrain link ...`: one ID for people, organisations and addresses (entity resolution).

    urbanbrain link map person                 # propose mappings from column names and save them
    urbanbrain link train person               # fit the linkage model on the mapped records
    urbanbrain link run person [--full]        # link into registry.person.* (incremental by default)
    urbanbrain link status person
    urbanbrain link evaluate                   # precision / recall / F1 against the demo's truth
    urbanbrain link review person / decide person PAIR approved|rejected
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from urbanbrain.cli.acting import AsOption, acting_principal
from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_record, emit_rows
from urbanbrain.core.lazy import lazy_function, lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.link import golden, mapping, review, service
    from urbanbrain.link.run import run_link, train_kind
else:
    golden = lazy_module("urbanbrain.link.golden")
    mapping = lazy_module("urbanbrain.link.mapping")
    review = lazy_module("urbanbrain.link.review")
    service = lazy_module("urbanbrain.link.service")
    run_link = lazy_function("urbanbrain.link.run", "run_link")
    train_kind = lazy_function("urbanbrain.link.run", "train_kind")

app = typer.Typer(no_args_is_help=True)
KindArg = Annotated[str, typer.Argument(help="person, organisation or address.")]


@app.command("map")
def map_(kind: KindArg,
         dataset: Annotated[str | None, typer.Argument(help="department.system.object to map by hand.")] = None,
         column: Annotated[list[str] | None, typer.Option("--column", "-c", help="field=column, repeatable.")] = None,
         key: Annotated[str | None, typer.Option("--key", help="The record key column.")] = None,
         priority: Annotated[int, typer.Option("--priority", help="Survivorship priority (lower wins).")] = 100,
         date_column: Annotated[str | None, typer.Option("--date-column", help="Dates each record.")] = None,
         remove: Annotated[bool, typer.Option("--remove", help="Remove this dataset's mapping.")] = False,
         fmt: FormatOption = Format.table) -> None:
    """Show, propose (no DATASET, none saved yet), set or remove the datasets mapped to a kind."""
    mapping.check_kind(kind)
    if dataset and remove:
        mapping.remove_mapping(kind, dataset)
    elif dataset:
        if not key:
            raise typer.BadParameter("--key is required when mapping a dataset by hand")
        cols = dict(c.split("=", 1) for c in column or [])
        mapping.set_mapping(mapping.Mapping(kind, dataset, key, cols, priority, date_column))
    elif not mapping.load_mappings(kind):
        proposed = mapping.propose_all(kind)
        mapping.save_mappings([*mapping.load_mappings(), *proposed])
        console.print(f"proposed {len(proposed)} mapping(s) from column names; saved to {mapping.mappings_path()}")
    rows = [{"dataset": m.dataset, "key": m.key_column, "columns": ", ".join(f"{f}={c}" for f, c in m.columns.items()),
             "priority": m.priority, "date_column": m.date_column} for m in mapping.load_mappings(kind)]
    emit_rows(rows, fmt, columns=["dataset", "key", "columns", "priority", "date_column"], title=f"{kind} mappings")


@app.command("train")
def train(kind: KindArg) -> None:
    """Fit the kind's linkage model (m/u parameters) on the mapped records and save it."""
    train_kind(mapping.check_kind(kind))
    console.print(f"[green]trained[/green] the {kind} model; `urbanbrain link run {kind}` uses it")


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
             fmt: FormatOption = Format.table, output: OutputOption = None) -> None:
    """Pairwise precision, recall and F1 per kind against the demo city's ground truth."""
    kinds = (mapping.check_kind(kind),) if kind else mapping.KINDS
    rows = [{"kind": k, **s} for k, s in service.evaluate_all(kinds).items()]
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
