/* jsonmem.h -- jansson's memory in a worker: small blocks reused
 *
 * Owns: the allocator jansson uses for a session's document (its objects,
 * strings and hash tables), given to jansson by jsonmem_install().
 * Blocks up to JSONMEM_SMALL bytes come back from per-size free lists
 * (at most JSONMEM_KEEP kept per size); larger ones and the first of each
 * size come from malloc().  Every request builds and frees a document of
 * a few dozen such blocks, and glibc's own small-block cache keeps only
 * seven per size, so the rest went through its slower paths and the next
 * large malloc() (libfcgi's stream buffers) consolidated them again.
 * Not thread-safe: one process, one thread (the pool's model).  Built
 * with AddressSanitizer, the lists are off (every block is malloc()ed and
 * free()d), so ASan still sees each use after free.
 */
#ifndef APP_JSONMEM_H
#define APP_JSONMEM_H

#include <stddef.h>

#define JSONMEM_SMALL 256   /* largest block kept for reuse (bytes) */
#define JSONMEM_KEEP  256   /* free blocks kept per size, at most */

/* Make jansson allocate through jsonmem_alloc/jsonmem_free.  Call before
 * jansson allocates anything (a block from malloc() must never reach
 * jsonmem_free()).  Cannot fail. */
void jsonmem_install(void);

/* The allocator itself (exposed for its unit test).  jsonmem_alloc(n) is
 * like malloc(n) (NULL on failure; max_align_t alignment);
 * jsonmem_free(p) takes NULL or a block from jsonmem_alloc. */
void *jsonmem_alloc(size_t n);
void  jsonmem_free(void *p);

/* Free blocks kept now, over all sizes (for the unit test). */
size_t jsonmem_kept(void);

#endif
