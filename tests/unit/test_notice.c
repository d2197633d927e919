/* Rate-limited operator notices (src/daemon/notice.h): the first of a kind
 * is due at once, later ones within the interval are counted, and the
 * count goes with the next line due. */
#include <criterion/criterion.h>

#include "notice.h"

Test(notice, first_due_then_counted_then_due_with_the_count)
{
	struct notices *n = NULL;
	uint64_t held = 99;

	cr_assert(notice_due(&n, NOTICE_DROPPED, 1000, &held));
	cr_assert_not_null(n, "made on the first occurrence");
	cr_expect_eq(held, 0);
	for (int i = 1; i < 5; i++)
		cr_expect_not(notice_due(&n, NOTICE_DROPPED, 1000 + i * 1000, &held),
		              "occurrence %d within the interval was due", i);
	/* Another kind has its own clock. */
	cr_expect(notice_due(&n, NOTICE_DENIED, 2000, &held));
	cr_expect_eq(held, 0);
	cr_expect(notice_due(&n, NOTICE_DROPPED, 1000 + NOTICE_INTERVAL_MS, &held));
	cr_expect_eq(held, 4, "the four in between go with the next line");
	cr_expect_not(notice_due(&n, NOTICE_DROPPED, 1000 + NOTICE_INTERVAL_MS + 1, &held));
	cr_expect_eq(notice_take(n, NOTICE_DROPPED), 1, "what is left untold, at close");
	cr_expect_eq(notice_take(n, NOTICE_DROPPED), 0, "told once");
	cr_expect_eq(notice_take(NULL, NOTICE_DENIED), 0);
	notice_free(n);
}
