/* fh_guest.h: the ABI of an fh WebAssembly strategy module, for C (clang --target=wasm32).
 *
 * A module exports its linear memory ("memory") and:
 *   uint32_t fh_region(void);        where fh writes a batch: fh_region_len() records
 *   uint32_t fh_region_len(void);    of 64 bytes (struct fh_book_update), 1 to 65536
 *   void fh_on_batch(uint32_t first, uint32_t count);   records first..first+count are new
 *   void fh_on_missed(uint64_t count);                  optional: updates lost (never-wait)
 *   void fh_on_finish(void);                            optional: the run is over
 * and may import only these functions from module "fh" (no WASI, no libc):
 *   fh_top, fh_symbol, fh_now, fh_signal, fh_figure (below).
 * fh calls one export at a time, each under a deadline; a trap stops the module.
 *
 * Build: clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -Wl,--export-dynamic \
 *          -Wl,--allow-undefined -o s.wasm s.c      (see feed/wasm/tests)
 */
#ifndef FH_GUEST_H
#define FH_GUEST_H

#include <stdint.h>

#if defined(__wasm__)
#define FH_IMPORT(name) __attribute__((import_module("fh"), import_name(name)))
#define FH_EXPORT(name) __attribute__((export_name(name)))
#else
#define FH_IMPORT(name)
#define FH_EXPORT(name)
#endif

/* What changed (fh_book_update.kind). */
enum { FH_ADD_LEVEL = 0, FH_CHANGE_LEVEL = 1, FH_DELETE_LEVEL = 2, FH_TRADE = 3,
       FH_STATUS = 4, FH_TRADE_BREAK = 5 };
/* Which side (fh_book_update.side). */
enum { FH_BID = 0, FH_ASK = 1, FH_NO_SIDE = 2 };
/* Flag bits (fh_book_update.flags). */
#define FH_BEST_CHANGED  (1u << 0)
#define FH_LAST_IN_EVENT (1u << 1)
#define FH_STALE         (1u << 2)
#define FH_NON_PRINTABLE (1u << 3)
#define FH_CROSS         (1u << 4)

/* One book update, fh's record byte for byte (little-endian, 64 bytes, 64-aligned).
 * Prices have 4 implied decimals. */
struct __attribute__((aligned(64))) fh_book_update {
    uint64_t seq;         /*  0: feed sequence number of the message */
    uint64_t exch_ts;     /*  8: exchange time, ns */
    uint64_t recv_ts;     /* 16: capture / kernel receive time, ns */
    uint64_t engine_ts;   /* 24: engine time, ns on fh's clock */
    int64_t price;        /* 32 */
    uint64_t shares;      /* 40: shares at the level, or of the trade */
    uint32_t order_count; /* 48 */
    uint32_t instrument;  /* 52 */
    uint8_t kind;         /* 56 */
    uint8_t side;         /* 57 */
    uint16_t flags;       /* 58 */
};

/* Top of book (fh_top). */
struct fh_bbo {
    int64_t bid_price;
    uint64_t bid_shares;  /* 0: no bid */
    int64_t ask_price;
    uint64_t ask_shares;  /* 0: no offer */
    uint64_t seq;
    uint64_t exch_ts;
};

_Static_assert(sizeof(struct fh_book_update) == 64, "fh_book_update is 64 bytes");
_Static_assert(__builtin_offsetof(struct fh_book_update, order_count) == 48, "layout");
_Static_assert(__builtin_offsetof(struct fh_book_update, kind) == 56, "layout");
_Static_assert(__builtin_offsetof(struct fh_book_update, flags) == 58, "layout");
_Static_assert(sizeof(struct fh_bbo) == 48, "fh_bbo is 48 bytes");

/* Writes the top of book of `instrument` at `out`: 1 if known, 0 if not. */
FH_IMPORT("top") uint32_t fh_top(uint32_t instrument, struct fh_bbo *out);
/* Writes the 8-byte, space-padded symbol of `instrument` at `out`: 1 if named, 0 if not. */
FH_IMPORT("symbol") uint32_t fh_symbol(uint32_t instrument, char out[8]);
/* Now, ns since the Unix epoch (the capture time in a replay). */
FH_IMPORT("now") uint64_t fh_now(void);
/* Emits a signal (instrument, kind, value) into the run's signals CSV and report. */
FH_IMPORT("signal") void fh_signal(uint32_t instrument, uint32_t kind, int64_t value);
/* Sets the report figure `name` (len <= 64) to `value`; hex != 0 shows it in hex. */
FH_IMPORT("figure") void fh_figure(const char *name, uint32_t len, int64_t value, uint32_t hex);

/* Shared mode (fh --wasm-shared): the module imports its memory, shared, with as many maximum as
 * minimum pages (wasm-ld: -matomics -mbulk-memory -Wl,--import-memory,--shared-memory,
 * --initial-memory=N,--max-memory=N; no static data: wasm-ld would initialise it with
 * memory.init, which a shared-mode module may not use, nor memory.copy/fill or
 * memory.atomic.wait). It exports
 *   uint32_t fh_ring(uint32_t slots);   where the ring goes: a multiple of 65536 with slots * 64
 *                                       bytes after it in the memory (called once);
 *   void fh_on_batch(uint32_t first, uint32_t count);
 * and reads update i (0 <= i < count) of a batch, in place and read-only, with fh_ring_update. */
static inline const struct fh_book_update *fh_ring_update(uint32_t ring, uint32_t slots,
                                                          uint32_t first, uint32_t i) {
    return (const struct fh_book_update *)(uintptr_t)(ring + ((first + i) & (slots - 1)) * 64u);
}

#endif
