"""Named queries become prepared statements: parameters numbered by name, %% unescaped."""
from greenlets.db.queries import PLANNED_EACH_CALL, QUERIES, Prepared


def test_a_parameter_used_twice_gets_one_number_and_is_passed_once():
    statement = Prepared("sample", "SELECT %(a)s, %(b)s WHERE x = %(a)s AND y %% 2 = 0")
    assert statement.prepare == "PREPARE greenrow_sample AS SELECT $1, $2 WHERE x = $1 AND y % 2 = 0"
    assert statement.execute == "EXECUTE greenrow_sample(%(a)s, %(b)s)"


def test_a_query_without_parameters_executes_without_an_argument_list():
    statement = Prepared("now", "SELECT now()")
    assert statement.execute == "EXECUTE greenrow_now"


def test_the_batch_statements_left_unprepared_are_real_queries():
    assert PLANNED_EACH_CALL <= set(QUERIES)
