/*
 * The memory of open workflow groups, all of it taken at start so that
 * opening a group on a polling lcore allocates nothing and takes no lock
 * (the hugepage heap's rte_malloc holds a spinlock):
 *  - slots: one fixed-size slot per open group (TW_WF_MAX_GROUPS of
 *    TW_WF_SLOT_BYTES), the group's header and, when they fit, its node,
 *    done bits and result cells;
 *  - pages: TW_WF_PAGE-byte pages (--group-memory-mb of them) for the bits
 *    and cells of a group that does not fit its slot, taken all or none;
 *  - the list buffer: one contiguous buffer (--group-list-mb) for a chord's
 *    results list over the largest frame, which only an in-engine callback
 *    can still take (it reads its args from there); one chord holds it at
 *    a time, the others are refused, counted.
 * Slots and pages are MP/MC mempools without per-lcore caches (lock-free
 * rings: what one lcore frees another may take at once, and no free slot
 * or page sits in another lcore's cache while a group is refused).
 *
 * Threads: tw_wf_mem_init on the main lcore before launch; the rest on any
 * lcore of tw-dataplane.
 */
#ifndef TW_WF_MEM_H
#define TW_WF_MEM_H

#include <stdbool.h>
#include <stdint.h>

#define TW_WF_SLOT_BYTES 2048u         /* one open group's slot, header included */
#define TW_WF_PAGE 16384u              /* a page of a group's bits and cells */
#define TW_WF_PAGE_PTRS (TW_WF_PAGE / sizeof(void *)) /* page pointers a table page holds */

/**
 * Take the memory: TW_WF_MAX_GROUPS slots, page_bytes / TW_WF_PAGE pages,
 * a list buffer of list_bytes (0: none). @return 0, or -ENOMEM (rte_errno
 * says more). Threads: main lcore, once, before launch.
 */
int tw_wf_mem_init(int socket, uint64_t page_bytes, uint64_t list_bytes);

/** A free slot (TW_WF_SLOT_BYTES, not zeroed), or NULL. */
void *tw_wf_slot_get(void);

/** Give a slot back. */
void tw_wf_slot_put(void *slot);

/**
 * n pages into v, all or none (bulk). @return 0, or -ENOENT: not so many
 * free (v untouched).
 */
int tw_wf_pages_get_bulk(void **v, uint32_t n);

/** Give n pages back. */
void tw_wf_pages_put_bulk(void *const *v, uint32_t n);

/** Pages free now, of how many (*total; 0 when none were taken). */
uint32_t tw_wf_pages_free(uint32_t *total);

/**
 * The list buffer, for a results list of need bytes: claimed, or NULL if
 * another chord holds it or it is smaller than need (*size: its size, 0:
 * none configured).
 */
uint8_t *tw_wf_list_claim(uint64_t need, uint64_t *size);

/** Give the list buffer back (p: what tw_wf_list_claim returned). */
void tw_wf_list_release(uint8_t *p);

#endif
