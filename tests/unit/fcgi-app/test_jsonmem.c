/* test_jsonmem.c -- unit tests for jsonmem.c (jansson's block reuse)
 *
 * Covers: a freed small block is handed out again for the same size
 * class (and only for it), alignment, zero and large sizes, the cap on
 * kept blocks, and a real jansson document built, dumped and freed
 * through the installed allocator with nothing left in use.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "jsonmem.h"
#include "unit.h"

static int
aligned(const void *p)
{
    return ((uintptr_t) p % alignof(max_align_t)) == 0;
}

static void
test_reuse_same_class(void)
{
    void   *a, *b, *c;
#if !defined(__SANITIZE_ADDRESS__)
    size_t  kept0 = jsonmem_kept();
#endif

    a = jsonmem_alloc(20);                      /* class of 17..32 bytes */
    UNIT_CHECK(a != NULL && aligned(a));
    memset(a, 0xab, 20);
    jsonmem_free(a);
#if !defined(__SANITIZE_ADDRESS__)
    UNIT_CHECK(jsonmem_kept() == kept0 + 1);
    b = jsonmem_alloc(32);                      /* same class: same block */
    UNIT_CHECK(b == a);
    c = jsonmem_alloc(33);                      /* next class: another */
    UNIT_CHECK(c != NULL && c != a && aligned(c));
#else
    b = jsonmem_alloc(32);
    c = jsonmem_alloc(33);
    UNIT_CHECK(b != NULL && c != NULL);
#endif
    jsonmem_free(b);
    jsonmem_free(c);
    jsonmem_free(NULL);
}

static void
test_zero_and_large(void)
{
    void *z = jsonmem_alloc(0), *big = jsonmem_alloc(100000);

    UNIT_CHECK(z != NULL && aligned(z));
    UNIT_CHECK(big != NULL && aligned(big));
    memset(big, 1, 100000);
    jsonmem_free(z);
    jsonmem_free(big);                          /* never kept */
    UNIT_CHECK(jsonmem_alloc(SIZE_MAX) == NULL);
    UNIT_CHECK(jsonmem_alloc(SIZE_MAX - 8) == NULL);
}

static void
test_cap(void)
{
    void   *p[JSONMEM_KEEP + 10];
    size_t  i;

    for (i = 0; i < JSONMEM_KEEP + 10; i++) {
        p[i] = jsonmem_alloc(200);
        UNIT_CHECK(p[i] != NULL);
    }
    for (i = 0; i < JSONMEM_KEEP + 10; i++) {
        jsonmem_free(p[i]);
    }
    /* at most JSONMEM_KEEP per class, whatever was freed */
    UNIT_CHECK(jsonmem_kept() <= (size_t) JSONMEM_KEEP * 16);
}

static void
test_jansson_document(void)
{
    json_t *doc, *back;
    char   *text;
    int     i;

    jsonmem_install();
    for (i = 0; i < 100; i++) {
        doc = json_pack("{s:{s:f,s:s,s:b,s:s},s:i,s:[s,s]}",
                        "cookie", "originalMaxAge", 2592000000.0,
                        "expires", "2026-12-26T04:31:42.429Z",
                        "httpOnly", 1, "path", "/", "views", i,
                        "tags", "a", "b");
        UNIT_CHECK(doc != NULL);
        text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        UNIT_CHECK(text != NULL);
        back = json_loads(text, 0, NULL);
        UNIT_CHECK(back != NULL && json_equal(doc, back));
        json_decref(back);
        jsonmem_free(text);     /* json_dumps allocates with jansson's */
        json_decref(doc);
    }
}

int
main(void)
{
    UNIT_RUN(test_reuse_same_class);
    UNIT_RUN(test_zero_and_large);
    UNIT_RUN(test_cap);
    UNIT_RUN(test_jansson_document);
    return unit_done();
}
