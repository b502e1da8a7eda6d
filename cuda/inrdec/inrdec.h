/* libinrdec: the decoder of .inr images, with a C interface and no runtime dependency.
 *
 *   inr_info_t info;
 *   inr_error_t error;
 *   if (inr_info(data, size, &info, &error) != INR_OK) { puts(error.message); ... }
 *   size_t stride = (size_t)info.width * info.channels * (info.bit_depth / 8);
 *   void* pixels = malloc(stride * info.height);
 *   inr_decode(data, size, NULL, pixels, stride, &error);
 *
 * Pixels come out interleaved in the file's channel layout (1 gray, 2 gray + alpha,
 * 3 RGB, 4 RGBA), one uint8_t per sample for 8-bit files and one native-endian uint16_t
 * for 16-bit files, rows `stride` bytes apart; they equal the Python package's
 * `inr.decode` byte for byte.
 *
 * Every function is thread-safe and keeps no global state: calls on different threads
 * never share anything but the caller's read-only input. Hostile input yields an error
 * code and a message, never a crash, and the decoder allocates at most the caller's
 * memory limit (width x height x channels is checked against it before any allocation).
 */
#ifndef INRDEC_H
#define INRDEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define INRDEC_VERSION_MAJOR 0
#define INRDEC_VERSION_MINOR 1

typedef enum inr_status {
    INR_OK = 0,
    INR_ERR_ARGUMENT = 1,      /* a null pointer, a stride too small, a zero output size */
    INR_ERR_FORMAT = 2,        /* not a valid .inr file: magic, CRC, header or payload */
    INR_ERR_UNSUPPORTED = 3,   /* a valid file this build cannot decode yet */
    INR_ERR_MEMORY_LIMIT = 4,  /* decoding would allocate more than the caller's limit */
    INR_ERR_OUT_OF_MEMORY = 5, /* an allocation failed */
    INR_ERR_INTERNAL = 6       /* a bug: please report it with the file */
} inr_status;

/* Header facts of a file (inr_info checks the CRC; it decodes nothing). */
typedef struct inr_info_t {
    uint32_t width, height; /* coded size, 1..65535 each */
    uint32_t channels;      /* 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA */
    uint32_t bit_depth;     /* 8 or 16 */
    uint32_t version;       /* format version of the file */
    uint32_t lossless;      /* 1: lossless, 0: lossy */
    uint32_t opaque_alpha;  /* 1: alpha not stored, decoded as fully opaque */
} inr_info_t;

/* Decoding options; NULL in inr_decode means every default. */
typedef struct inr_decode_options_t {
    uint32_t out_width, out_height; /* output size, each at most 2^24; 0 and 0: the coded size */
    size_t max_memory;              /* bytes the decoder may allocate; 0: INRDEC_DEFAULT_MAX_MEMORY */
    int threads;                    /* threads the call may start (0: 1); the output never depends on it */
} inr_decode_options_t;

#define INRDEC_DEFAULT_MAX_MEMORY ((size_t)1 << 30)

/* The reason of a failed call, as text (always NUL-terminated). */
typedef struct inr_error_t {
    char message[256];
} inr_error_t;

/* Reads and checks the header of `data` (size bytes). `error` may be NULL. */
inr_status inr_info(const uint8_t* data, size_t size, inr_info_t* info, inr_error_t* error);

/* Decodes `data` into `pixels` (rows `stride` bytes apart, at least out_width x channels
 * x bit_depth / 8 bytes each) at the options' size. `options` and `error` may be NULL. */
inr_status inr_decode(const uint8_t* data, size_t size, const inr_decode_options_t* options, void* pixels,
                      size_t stride, inr_error_t* error);

/* A short constant name of a status ("ok", "format error", ...). */
const char* inr_status_name(inr_status status);

#ifdef __cplusplus
}
#endif

#endif /* INRDEC_H */
