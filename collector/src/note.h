/* note.h -- the names already reported as skipped or unopenable
 *
 * Owns the memory of which paths were logged and why, so a hostile
 * directory (thousands of FIFOs, an unreadable file) is reported once
 * per name and cause rather than at every rescan, and forgets the names
 * a rescan no longer meets, so it never outgrows what the directories
 * hold.  It does not log: the scan decides what to say.
 */
#ifndef NOTE_H
#define NOTE_H

struct note;

struct note_set {
    void        *tree;          /* tsearch(3) of struct note, by path */
    struct note *list;          /* the same notes, for pruning */
};

int note_add(struct note_set *s, const char *path, int why,
    unsigned long scan);
void note_forget(struct note_set *s, const char *path);
void note_prune(struct note_set *s, unsigned long scan);
void note_clear(struct note_set *s);

#endif
