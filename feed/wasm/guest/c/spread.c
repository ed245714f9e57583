/* An fh strategy in C: at each event end that moved a best price, signals the instrument's
 * spread (kind 4, value: ask - bid, 4 decimals) when both sides are present. */
#include "../fh_guest.h"

#define REGION 256
static struct fh_book_update region[REGION];
static uint64_t updates, signals;

FH_EXPORT("fh_region") uint32_t fh_region(void) { return (uint32_t)(uintptr_t)region; }
FH_EXPORT("fh_region_len") uint32_t fh_region_len(void) { return REGION; }

FH_EXPORT("fh_on_batch") void fh_on_batch(uint32_t first, uint32_t count) {
    for (uint32_t i = first; i < first + count && i < REGION; i++) {
        const struct fh_book_update *u = &region[i];
        updates++;
        if ((u->flags & (FH_LAST_IN_EVENT | FH_BEST_CHANGED)) != (FH_LAST_IN_EVENT | FH_BEST_CHANGED))
            continue;
        struct fh_bbo b;
        if (fh_top(u->instrument, &b) && b.bid_shares && b.ask_shares) {
            fh_signal(u->instrument, 4, b.ask_price - b.bid_price);
            signals++;
        }
    }
}

FH_EXPORT("fh_on_finish") void fh_on_finish(void) {
    fh_figure("updates", 7, (int64_t)updates, 0);
    fh_figure("signals", 7, (int64_t)signals, 0);
}
