from dbaudit.analysis.cost import ZERO, Cost


def test_formats_polynomials_in_loop_sizes() -> None:
    assert str(Cost.constant(2)) == "2"
    assert str(Cost.constant(1) + Cost.term((1,))) == "1 + N"
    assert str(Cost.constant(1) + Cost.term((1,)) + Cost.term((1, 2))) == "1 + N + N·M"
    assert str(Cost.term((1,), 2)) == "2·N"
    assert str(ZERO) == "0"


def test_sequential_conditional_and_concurrent() -> None:
    assert str(Cost.constant(4, conditional=True, sequential=True)) == "≤ 4 (sequential)"
    assert str(Cost.constant(3, concurrent=3)) == "3 (concurrent)"
    assert str(Cost.constant(1) + Cost.constant(3, concurrent=3)) == "4 (3 concurrent)"
    assert str(Cost.constant(1, sequential=True)) == "1"


def test_shifting_into_a_callers_loops() -> None:
    helper = Cost.constant(1) + Cost.term((1,))  # 1 + N inside the helper
    inside_loop = helper.shifted((1,))  # called once per item of the caller's loop
    assert str(Cost.constant(1) + inside_loop) == "1 + N + N·M"
    assert str(helper.shifted((), multiplier=3)) == "3 + 3·N"


def test_properties() -> None:
    cost = Cost.constant(2) + Cost.term((1, 2))
    assert not cost.is_constant and cost.depth == 2 and cost.total_constant == 2
    assert cost.queries == 3
