/*
 * The memory of open workflow groups, taken at start: see tw_wf_mem.h.
 */
#include <errno.h>

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mempool.h>

#include "tw_limits.h"
#include "tw_wf_mem.h"

static struct rte_mempool *slots;
static struct rte_mempool *pages;
static uint32_t n_pages;
static uint8_t *list_buf;
static uint64_t list_size;
static uint32_t list_held;             /* 1 while a chord holds list_buf (atomic) */

int
tw_wf_mem_init(int socket, uint64_t page_bytes, uint64_t list_bytes)
{
	uint64_t n = page_bytes / TW_WF_PAGE;

	/* no per-lcore cache (0): see tw_wf_mem.h */
	slots = rte_mempool_create("tw_wf_slots", TW_WF_MAX_GROUPS, TW_WF_SLOT_BYTES, 0, 0, NULL,
				   NULL, NULL, NULL, socket, 0);
	if (slots == NULL)
		return -ENOMEM;
	if (n > UINT32_MAX / 2)
		n = UINT32_MAX / 2;
	if (n != 0) {
		pages = rte_mempool_create("tw_wf_pages", (unsigned int)n, TW_WF_PAGE, 0, 0, NULL,
					   NULL, NULL, NULL, socket, 0);
		if (pages == NULL)
			return -ENOMEM;
		n_pages = (uint32_t)n;
	}
	if (list_bytes != 0) {
		list_buf = rte_malloc_socket("tw_wf_list", list_bytes, RTE_CACHE_LINE_SIZE, socket);
		if (list_buf == NULL) {
			rte_errno = ENOMEM;
			return -ENOMEM;
		}
		list_size = list_bytes;
	}
	return 0;
}

void *
tw_wf_slot_get(void)
{
	void *p;

	return slots != NULL && rte_mempool_get(slots, &p) == 0 ? p : NULL;
}

void
tw_wf_slot_put(void *slot)
{
	rte_mempool_put(slots, slot);
}

int
tw_wf_pages_get_bulk(void **v, uint32_t n)
{
	if (n == 0)
		return 0;
	if (pages == NULL || rte_mempool_get_bulk(pages, v, n) != 0)
		return -ENOENT;
	return 0;
}

void
tw_wf_pages_put_bulk(void *const *v, uint32_t n)
{
	if (n != 0)
		rte_mempool_put_bulk(pages, v, n);
}

uint32_t
tw_wf_pages_free(uint32_t *total)
{
	*total = n_pages;
	return pages != NULL ? rte_mempool_avail_count(pages) : 0;
}

uint8_t *
tw_wf_list_claim(uint64_t need, uint64_t *size)
{
	uint32_t free_ = 0;

	*size = list_size;
	if (list_buf == NULL || need > list_size)
		return NULL;
	/* acquire: pairs with the release in tw_wf_list_release() (the last
	 * holder's writes are done before the next one writes) */
	if (!__atomic_compare_exchange_n(&list_held, &free_, 1, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return NULL;
	return list_buf;
}

void
tw_wf_list_release(uint8_t *p)
{
	if (p != NULL && p == list_buf)
		__atomic_store_n(&list_held, 0, __ATOMIC_RELEASE);
}
