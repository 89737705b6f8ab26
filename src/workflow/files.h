/* Files in the server's input / output / temp folders: checks on names
 * that come from clients, listings of input images, and ComfyUI's naming
 * of saved images (PREFIX_00001_.png).
 *
 * Client names never escape their folder: no absolute paths, no "." or
 * ".." components, no backslashes or control characters, and after
 * resolving symlinks the file (or, for a new file, its deepest existing
 * parent) must still be inside the folder. Thread-safe. */
#ifndef SDC_WORKFLOW_FILES_H
#define SDC_WORKFLOW_FILES_H

#include <stddef.h>

#include "base/error.h"
#include "workflow/catalog.h"

/* Checks a relative name: non-empty unless allow_empty, no leading '/', no
 * "." or ".." component, no '\\', no control characters, no empty
 * components ("a//b", trailing '/'); at most 255 bytes per component and
 * 1024 in all. allow_slash 0 refuses '/' (a plain file name). 0 when
 * acceptable, -1 otherwise. */
int sdc_path_rel_ok(const char *rel, int allow_slash, int allow_empty);

/* Joins base and rel (which must pass sdc_path_rel_ok with slashes and
 * empty allowed) into out and checks that the result, symlinks resolved,
 * stays inside base. SDC_ERR_INVALID_ARG for names that escape,
 * SDC_ERR_IO when base does not exist. */
sdc_status sdc_path_join_within(const char *base, const char *rel, char *out, size_t size, sdc_error *err);

/* Creates dir and its parents (mode 0755); SDC_ERR_IO on failure. */
sdc_status sdc_mkdirs(const char *dir, sdc_error *err);

/* Image files (png, jpg, jpeg, webp) in dir and its subfolders (2 levels),
 * names relative to dir, sorted. */
sdc_status sdc_wf_list_files(const char *dir, sdc_name_list *out);

/* ComfyUI's get_save_image_path: prefix may hold a subfolder
 * ("sub/name"); %width%, %height%, %year% .. are not expanded. Returns the
 * folder to write into (created), the file-name stem, the subfolder, and
 * the next counter: one more than the largest NNNNN among existing
 * "stem_NNNNN_*" files (1 when none). */
sdc_status sdc_wf_save_path(const char *out_dir, const char *prefix, char *folder, size_t folder_size, char *stem,
                            size_t stem_size, char *subfolder, size_t sub_size, int *counter, sdc_error *err);

#endif
