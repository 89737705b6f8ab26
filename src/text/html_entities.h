/* HTML named character reference tables (generated into html_entities.c by
 * tests/data/text/gen_html_entities.py). Lookup only; the unescaping rules
 * live in text_clean.c. */
#ifndef SDC_TEXT_HTML_ENTITIES_H
#define SDC_TEXT_HTML_ENTITIES_H

#include <stddef.h>

typedef struct sdc_html_entity {
    const char *name;  /* without the leading '&'; with the ';' when the name has one */
    const char *value; /* UTF-8, one or two code points */
} sdc_html_entity;

/* Value of an HTML5 named reference (`name` is len bytes, e.g. "amp;" or
 * "amp"), or NULL when there is none. */
const char *sdc_html5_entity(const char *name, size_t len);

/* Value of one of ftfy's all-caps names (e.g. "EACUTE;" -> "É"), or NULL. */
const char *sdc_html_ftfy_upper_entity(const char *name, size_t len);

#endif
