/* collector_int.h -- the loop's context, shared by the files of the loop
 *
 * The collector is one loop split by concern, the way Fluent Bit's
 * in_tail is: collector.c (the loop: ppoll(2), inotify events, reading,
 * letting go, stopping), scan.c (scanning the inputs' directories and
 * reconciling the table with them), orphan.c (files found again by
 * inode) and offsets.c (the state store) share struct collector, defined
 * here, and call each other through the functions below.  The parts
 * that need no context keep their own structs: ftable.c (the file
 * table), note.c (names reported once), health.c (the health file).
 * Nothing else includes this header: main.c sees only collector.h.
 * Every field belongs to one of those files; the comment says which
 * where it is not the loop's.
 */
#ifndef COLLECTOR_INT_H
#define COLLECTOR_INT_H

#include <stddef.h>

#include "collector.h"
#include "config.h"
#include "ftable.h"
#include "health.h"
#include "note.h"
#include "state.h"
#include "tfile.h"

struct collector_dir {
    int wd;                     /* -1: not watched (missing or polled) */
    int missing;
    int polled_logged;          /* "polling dir=" said once */
};

struct collector {
    const struct config   *cfg;
    struct watch          *watch;
    struct outq           *q;
    struct event_encoder  *enc;
    struct tcpout         *tcp;
    struct collector_dir  *dirs;        /* scan.c: one per input */
    struct ftable          files;       /* in the order found */
    char                  *rbuf;
    struct state           saved;       /* offsets.c: loaded at start */
    unsigned char         *saved_used;  /* offsets.c: entries placed */
    int                    have_state;  /* offsets.c: a state file was read */
    int                    starting;    /* the first scan is running */
    int                    rescan;
    int                    state_dirty; /* offsets not saved yet */
    int                    polled;      /* some file or dir has no watch */
    struct health          health;
    long long              now;
    long long              next_reconcile;
    long long              last_save;   /* offsets.c */
    struct note_set        notes;       /* scan.c: names reported */
    unsigned long          scan;        /* scan.c: rescans so far */
    int                    emfile_logged; /* scan.c: out of fds, said */
    size_t                 partial_held; /* partial-line bytes, all files */
    unsigned long          budget_flushes; /* not logged one by one */
    int                    budget_logged; /* logged this reconcile period */
    char                   err[1024];
};

/* scan.c */
void scan_rescan(struct collector *c);
void scan_reconcile(struct collector *c);
struct ftable_entry *scan_adopt(struct collector *c, struct tfile *f);
int scan_wake(struct collector *c, struct ftable_entry *e);
void scan_let_go(struct collector *c, struct ftable_entry **pp);

/* orphan.c */
void orphan_lost(struct collector *c);
void orphan_recover(struct collector *c);

/* offsets.c */
int offsets_load(struct collector *c, char *err, size_t errlen);
void offsets_started(struct collector *c);
void offsets_place(struct collector *c, struct tfile *f);
void offsets_save(struct collector *c);

#endif
