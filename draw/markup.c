/* The one markup escaper of the drawing tools: Graphviz HTML-like labels
 * (dot.c), the backward page's HTML (page.c) and the training curves' SVG
 * (plot.c) all write text through tg_markup_put. */
#include "draw/draw.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at s, 0 if invalid. */
static int utf8_length(const unsigned char *s)
{
    int n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 2 && s[0] < 0xC2)
        return 0; /* overlong */
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

void tg_markup_put(FILE *f, const char *text, size_t length, tg_markup_style style)
{
    bool label = style == TG_MARKUP_GRAPHVIZ;
    const unsigned char *s = (const unsigned char *)text, *end = s + length;
    while (s < end) {
        unsigned char c = *s;
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        case '\\': fputs(label ? "&#92;" : "\\", f); break;
        case '\n': fputs(label ? "<br/>" : "\n", f); break;
        case '\t': fputc(label ? ' ' : '\t', f); break;
        default:
            if (c < 0x20 || c == 0x7F) {
                if (label) /* XML forbids them: a label shows where one was */
                    fputc('?', f);
                else if (c == 0x7F)
                    fputc(c, f);
            } else if (!label) {
                fputc(c, f);
            } else {
                int n = utf8_length(s);
                if (n == 0 || s + n > end) {
                    fputc('?', f);
                } else {
                    fwrite(s, 1, (size_t)n, f);
                    s += n;
                    continue;
                }
            }
        }
        s++;
    }
}

void tg_markup_put_str(FILE *f, const char *text, tg_markup_style style)
{
    tg_markup_put(f, text, strlen(text), style);
}
