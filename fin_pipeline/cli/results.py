"""What a job run in process returned, read the CLI's way: its step failures and its materializations' metadata."""

from __future__ import annotations


def errors(result) -> str:
    """Every step failure's message with its causes (a step out of retries wraps the last error)."""
    messages = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            messages.append(error.message.strip())
            error = error.cause
    return "; ".join(messages)


def metadata(result, node: str) -> dict[str, object]:
    """The metadata values of ``node``'s materialization in ``result`` ({} when the job did not materialize it)."""
    materializations = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in materializations[0].metadata.items()} if materializations else {}
