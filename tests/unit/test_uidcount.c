/* Clients per uid (src/daemon/uidcount.h), against a plain array. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "uidcount.h"

Test(uidcount, counts_like_an_array_through_growth_and_removal)
{
	enum { UIDS = 3000, ROUNDS = 200000 };
	static unsigned ref[UIDS];
	struct uidcount u = { 0 };
	unsigned seed = 7;

	for (int i = 0; i < ROUNDS; i++) {
		/* uids spread wide and clustered, so probes collide */
		uid_t uid = (uid_t)(rand_r(&seed) % UIDS);
		uid_t key = uid % 2 ? uid * 65536u : uid;

		if (ref[uid] > 0 && rand_r(&seed) % 2) {
			uidcount_remove(&u, key);
			ref[uid]--;
		} else {
			cr_assert_eq(uidcount_add(&u, key), 0);
			ref[uid]++;
		}
		if (i % 1000 == 0)
			for (uid_t k = 0; k < UIDS; k++)
				cr_assert_eq(uidcount_get(&u, k % 2 ? k * 65536u : k), ref[k],
				             "round %d, uid %u", i, (unsigned)k);
	}
	for (uid_t k = 0; k < UIDS; k++)
		while (ref[k]-- > 0)
			uidcount_remove(&u, k % 2 ? k * 65536u : k);
	cr_expect_eq(u.used, 0);
	cr_expect_eq(uidcount_get(&u, 1), 0);
	uidcount_free(&u);
}
