"""The recorded states a replay walks through agree with the case: folded from the first step to the last
they give the variables and the waiting steps the case has now, and the steps follow the recorded path."""

from __future__ import annotations

from orchestrator.actors import Actor
from orchestrator.replay import path_taken, replay_steps
from orchestrator.step_state import replay_states
from tests.processes.test_returns import LABEL, grade_return, receive_parcel, start

AUDITOR = Actor("auditor", roles=frozenset({"auditor"}))


def check_replay_matches_the_case(engine, run) -> list:
    history = engine.queries.history_for(AUDITOR, run.id)
    steps = replay_steps(history)
    states = replay_states(history)
    case = engine.case_views.case_view(AUDITOR, run.id)
    assert states[-1]["variables"] == run.variables
    # every task, job, timer and message wait the case shows; the recorded tokens may also hold a running
    # subprocess or an event-based gateway that the case page marks through what waits inside it
    assert set(case.waiting_elements) <= set(states[-1]["waiting"])
    assert [element for step in steps for element in step.passed] == path_taken(history)
    assert [step.number for step in steps] == list(range(1, len(steps) + 1))
    return steps


def test_a_return_replays_to_the_case_as_it_is_at_every_stop(models_engine, clock):
    run = start(models_engine)
    check_replay_matches_the_case(models_engine, run)  # waiting for the review
    run.complete("review_return", {"reviewDecision": "accept"})
    run.complete("issue_return_label", LABEL)
    run.run_jobs("send_rma_confirmation")
    steps = check_replay_matches_the_case(models_engine, run)
    label_step = next(step for step in steps if step.values.get("trackingNumber"))
    assert label_step.values == LABEL and label_step.passed[0] == "issue_return_label"
    assert label_step.set["trackingNumber"] == LABEL["trackingNumber"]
    receive_parcel(run)
    check_replay_matches_the_case(models_engine, run)
    grade_return(run, grade="A", faultCode="none", responsibility="customer", disposition="restock")
    run.run_jobs()
    steps = check_replay_matches_the_case(models_engine, run)
    assert steps[0].passed[0] == "start_return" and steps[0].seconds_since_previous == 0
    assert steps[0].set["rmaNumber"] == "RMA-1001"
