/* test_note.c -- unit tests for note.c, the names reported once
 *
 * A name is news once per cause, again when the cause changes or after
 * it was forgotten, and a prune drops exactly the names the last rescan
 * did not meet.
 */
#include "note.h"
#include "unit.h"

static void
test_note_once_per_cause(void)
{
    struct note_set s = { NULL, NULL };

    UNIT_CHECK(note_add(&s, "/l/a.log", 1, 1) == 1);
    UNIT_CHECK(note_add(&s, "/l/a.log", 1, 2) == 0);
    UNIT_CHECK(note_add(&s, "/l/a.log", -13, 3) == 1);     /* new cause */
    UNIT_CHECK(note_add(&s, "/l/a.log", -13, 3) == 0);
    UNIT_CHECK(note_add(&s, "/l/b.log", -13, 3) == 1);     /* other name */
    note_forget(&s, "/l/a.log");
    note_forget(&s, "/l/none.log");
    UNIT_CHECK(note_add(&s, "/l/a.log", -13, 4) == 1);
    UNIT_CHECK(note_add(&s, "/l/b.log", -13, 4) == 0);
    note_clear(&s);
    UNIT_CHECK(s.list == NULL && s.tree == NULL);
}

static void
test_note_prune(void)
{
    struct note_set s = { NULL, NULL };

    UNIT_CHECK(note_add(&s, "/l/a", 1, 1) == 1);
    UNIT_CHECK(note_add(&s, "/l/b", 1, 1) == 1);
    UNIT_CHECK(note_add(&s, "/l/c", 1, 1) == 1);
    UNIT_CHECK(note_add(&s, "/l/b", 1, 2) == 0);     /* scan 2 met b only */
    note_prune(&s, 2);
    UNIT_CHECK(note_add(&s, "/l/b", 1, 3) == 0);     /* kept */
    UNIT_CHECK(note_add(&s, "/l/a", 1, 3) == 1);     /* dropped: news */
    UNIT_CHECK(note_add(&s, "/l/c", 1, 3) == 1);
    note_clear(&s);
    UNIT_CHECK(s.list == NULL);
}

int
main(void)
{
    UNIT_RUN(test_note_once_per_cause);
    UNIT_RUN(test_note_prune);
    return unit_done();
}
