/* PyTorch checkpoints (.ckpt / .pt / .pth / .bin written by torch.save
 * since torch 1.6): a zip archive holding ARCHIVE/data.pkl (the pickled
 * object) and ARCHIVE/data/KEY (one entry per storage).
 *
 * The pickle runs in the restricted VM of pickle.h (never executes code).
 * Tensors are collected from the resulting dict: when it has a dict under
 * "state_dict" (PyTorch Lightning), that dict is used; nested dicts are
 * flattened with '.' ("string_to_param.*" of textual-inversion files).
 * Other values (numbers, strings, lists, optimizer state) are ignored.
 * Every tensor's storage offset, size and strides are checked against its
 * storage; contiguous tensors in stored (uncompressed) entries point into
 * the mapping (zero-copy), others are copied into buffers the weight file
 * owns (non-contiguous views are made contiguous). Big-endian archives and
 * the legacy pre-1.6 format are refused with a clear error. */
#ifndef SDC_FORMATS_TORCH_CKPT_H
#define SDC_FORMATS_TORCH_CKPT_H

#include "formats/weight_file.h"

/* Parses the checkpoint in [data, data + size) (bytes must outlive f). */
sdc_status sdc_torch_parse(sdc_weight_file *f, const unsigned char *data, size_t size, sdc_error *err);

/* Runs only the restricted unpickler over raw pickle bytes (for fuzzing
 * and tests): succeeds when the pickle is well-formed and allowed. */
sdc_status sdc_torch_check_pickle(const unsigned char *data, size_t size, sdc_error *err);

#endif
