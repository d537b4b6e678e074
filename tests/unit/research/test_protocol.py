from auraquant.cta.research.protocol import Escalation, ProtocolRules, assess, guidance, termination


def test_dead_ends_are_relative_to_the_best_so_far() -> None:
    v = assess([0.5, 0.54, 0.9, 0.93, None, 0.2])
    assert v.dead_ends == (False, True, False, True, True, True)
    assert v.best_sharpe == 0.93 and v.best_round == 3  # the best counts even when it improved too little
    assert v.streak == 3 and v.escalation is Escalation.EXTERNAL


def test_escalation_ladder_follows_the_streak() -> None:
    assert assess([1.0]).escalation is Escalation.PARAMETER
    assert assess([1.0, 0.9]).escalation is Escalation.STRUCTURE
    assert assess([1.0, 0.9, 0.8]).escalation is Escalation.HYPOTHESIS
    assert assess([1.0, 0.9, 0.8, 0.7]).escalation is Escalation.EXTERNAL


def test_first_stagnation_forces_an_induction_and_the_second_stops() -> None:
    rounds = [1.0, 0.1, 0.2, 0.3, 0.4, 0.5]  # five dead ends after the first round
    first = assess(rounds)
    assert first.streak == 5 and first.induction_due and not first.stagnated
    after = assess(rounds, inductions_at=[6])  # the induction after round 6 starts a new direction
    assert after.streak == 0 and not after.induction_due and after.escalation is Escalation.PARAMETER
    more = assess([*rounds, 0.1, 0.2, 0.3, 0.4], inductions_at=[6])
    assert more.streak == 4 and not more.stagnated
    stuck = assess([*rounds, 0.1, 0.2, 0.3, 0.4, 0.5], inductions_at=[6])
    assert stuck.stagnated and stuck.streak == 5


def test_induction_is_forced_every_ten_rounds() -> None:
    improving = [0.1 * i for i in range(1, 21)]
    assert [n for n in range(1, 21) if assess(improving[:n]).induction_due] == [10, 20]
    assert not assess(improving[:10], inductions_at=[10]).induction_due
    assert assess(improving[:20], inductions_at=[10]).induction_due


def test_termination_precedence_and_budget() -> None:
    stuck = assess([1.0, 0.1, 0.1, 0.1, 0.1, 0.1], inductions_at=[1])
    assert termination(stuck, iterations=6, max_iters=20, awaiting_approval="rec_1").status == "APPROVAL_GATE"
    assert termination(stuck, iterations=6, max_iters=6).status == "STAGNATED"
    met = termination(stuck, iterations=6, max_iters=20, candidates=2)
    assert met.status == "GOAL_MET" and "2 candidate(s)" in met.detail and "5 rounds" in met.detail
    fine = assess([0.1, 0.2])
    assert termination(fine, iterations=2, max_iters=2).status == "BUDGET_SPENT"
    assert termination(fine, iterations=2, max_iters=2, candidates=1).status == "GOAL_MET"
    assert termination(fine, iterations=2, max_iters=3, candidates=1) is None  # a candidate alone does not stop


def test_custom_rules_and_guidance_text() -> None:
    rules = ProtocolRules(min_sharpe_delta=0.5, induction_every=3)
    v = assess([1.0, 1.4, 2.0], rules)
    assert v.dead_ends == (False, True, False) and v.induction_due
    text = "\n".join(guidance(v, rules))
    assert "FORCED INDUCTION" in text and "induction-iter-003" in text
