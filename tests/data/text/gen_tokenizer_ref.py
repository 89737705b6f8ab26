#!/usr/bin/python3
"""Reference ids for sdc's CLIP tokenizer tests (tests/unit/test_text_tokenizer.c).

Runs openai/CLIP's own SimpleTokenizer (clip/simple_tokenizer.py) with ftfy
6.1.1 -- the versions behind the shared reference tensors -- over the prompts
below and writes tokenizer_ref.json: for each prompt the ids (with start and
end tokens, untruncated) and CLIP's cleaned text
(whitespace_clean(basic_clean(text)).lower()).

Neither library is vendored: pass the folders of a checkout of each (the
openai/CLIP repository and rspeer/python-ftfy at tag v6.1.1). Needs Debian's
python3-regex and python3-wcwidth (ftfy's dependencies).

  /usr/bin/python3 tests/data/text/gen_tokenizer_ref.py CLIP_REPO FTFY_REPO \\
      ../shared/clip/bpe_simple_vocab_16e6.txt.gz > tests/data/text/tokenizer_ref.json
"""
import json
import sys

PROMPTS = [
    # plain English, punctuation, case
    "a photograph of an astronaut riding a horse",
    "Portrait of a WOMAN, Oil On Canvas, by John Singer Sargent.",
    "masterpiece, best quality, ultra-detailed, 8k, HDR, (photorealistic:1.4)",
    "a cat!!! a dog??? a bird... a fish;;; (a) [b] {c} <d> |e| ~f~ `g` ^h^",
    "---===+++***###@@@$$$%%%&&&",
    "e-mail me: someone@example.com, http://example.com/a?b=c&d=e#frag",
    "C:\\Users\\name\\file.txt and /usr/bin/env",
    # digits and numbers
    "123,456 and 1,000,000 and 3.14159 and -42 and +7 and 1e10 and 0x1F",
    "1920x1080 4k 8K 16:9 aspect, f/2.8, 1/4000s, ISO-3200, 35mm, 50%",
    "year 2023, 21st century, 1990s, 100th anniversary, no.1, #1",
    "\u0661\u0662\u0663 \u0967\u0968\u0969 \u00bd \u2153 \u2460 \u2162 \u00b2 \u00b3",
    # contractions
    "don't won't can't shouldn't I'm you're we've they'll she'd it's",
    "DON'T WON'T I'M YOU'RE WE'VE THEY'LL SHE'D IT'S",
    "rock'n'roll o'clock ma'am y'all 'tis 'twas 's 't 'd",
    "\u2018don\u2019t\u2019 \u201cquoted\u201d \u201ehere\u201c \u00abguillemets\u00bb \u2039single\u203a",
    "l'\u017fs '\u017f \u017fhip",
    # html entities
    "&amp; &lt; &gt; &quot; &apos; &#39; &#x27; &nbsp; &copy; &reg; &trade;",
    "&amp;amp; &amp;quot; &amp;amp;amp;lt; &#38;amp; &AMP; &LT; &Eacute; &EACUTE; &eacute;",
    "Tom &amp Jerry &copy2023 &notin &notit; &ampfoo; &#65 &#x41 &#0; &#128; &#x110000; &#xD800;",
    "<b>bold</b> &amp; &lt;i&gt; with a literal < sign",
    "line one &amp; more\nline two < less &amp; more\nline three &amp;",
    "&hellip; &mdash; &ndash; &lsquo;x&rsquo; &ldquo;y&rdquo; &frac12; &sup2; &szlig; &SZLIG;",
    # accents, NFC, combining marks
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber stra\u00dfe co\u00f6perate fa\u00e7ade",
    "cafe\u0301 nai\u0308ve re\u0301sume\u0301 u\u0308ber",
    "B\u0301 q\u0303 x\u0323\u0307 Z\u0336a\u0336l\u0336g\u0336o\u0336",
    "\u00c5ngstr\u00f6m \u212bngstr\u00f6m \u2126 ohm K kelvin \u212a",
    "\u0130stanbul \u0130I\u0131i D\u0130YARBAKIR",
    "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3 \u03a3\u039f\u03a6\u039f\u03a3 \u03a3 \u0391\u03a3. \u03b1\u03a3\u03b1",
    # scripts
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3001\u5bcc\u58eb\u5c71\u3068\u685c",
    "\u4e00\u53ea\u53ef\u7231\u7684\u732b\u54aa\u5750\u5728\u7a97\u53f0\u4e0a\uff0c\u6c34\u58a8\u753b",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8 \uc11c\uc6b8\uc758 \ubc24",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u0642\u0637\u0629 \u062c\u0645\u064a\u0644\u0629 \u0641\u064a \u0627\u0644\u062d\u062f\u064a\u0642\u0629",
    "\u0939\u093f\u0928\u094d\u0926\u0940 \u092e\u0947\u0902 \u090f\u0915 \u0938\u0941\u0902\u0926\u0930 \u092c\u093f\u0932\u094d\u0932\u0940",
    "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440, \u041a\u041e\u0428\u041a\u0410 \u043d\u0430 \u043a\u0440\u044b\u0448\u0435 \u0401\u0436\u0438\u043a",
    "\u05e2\u05d1\u05e8\u05d9\u05ea \u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22 \u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8 \u0540\u0561\u0575\u0565\u0580\u0565\u0576",
    "\u1f00\u03bb\u03c6\u03b1 \u1f08\u039b\u03a6\u0391 \u0390 \u03b0",
    # emoji and symbols
    "emoji \U0001F600\U0001F431\U0001F680 \u2764\ufe0f \U0001F468\u200d\U0001F469\u200d\U0001F467 \U0001F1EF\U0001F1F5 \U0001F44D\U0001F3FD",
    "\u2605\u2606\u2665\u2660 \u2192\u2190 \u00a9\u00ae\u2122 \u20ac\u00a3\u00a5 \u00b0C \u2103 \u00b5m \u00d7\u00f7 \u221e",
    "\u2728 sparkles \u2728, \U0001F525fire\U0001F525, \U0001F308rainbow",
    # fullwidth, halfwidth, ligatures, width
    "\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48 \uff21\uff22\uff23 \uff11\uff12\uff13\uff01\uff1f\uff08\uff09",
    "\uff8a\uff9d\uff76\uff78 \uff76\uff9e \u30cf\u30f3\u30ab\u30af\u3000\u5168\u89d2\u3000\u30b9\u30da\u30fc\u30b9",
    "\ufb01sh \ufb02ower \ufb00 \ufb03 \ufb04 \ufb05 \ufb06 \u0132sselmeer \u01c4 \u01c6 \u01c9 \u0149",
    "\u00e6sthetic \u0153uvre \u00c6 \u0152",
    # whitespace and control characters
    "tabs\tand\nnewlines\r\nand\rcarriage\u2028line\u2029para",
    "   leading and trailing spaces   ",
    "a\u00a0b\u2003c\u3000d\u200be\u2060f\u00adg\ufeffh",
    "a\x0bb\x0cc\x1cd\x1fe\x7ff\x00g\x85h\x9di\x80j",
    "\x1b[31mred\x1b[0m text \x1b[1;32mgreen",
    "zero\u200bwidth joiner\u200dnon\u200cjoiner rtl\u200fmark",
    # special tokens and brackets as raw text
    "<|startoftext|> literal special tokens <|endoftext|>",
    "<|STARTOFTEXT|>x<|endoftext|>y <<|endoftext|> <|endoftext|>>",
    "(masterpiece:1.2), best quality, [blurry], <lora:add_detail:0.5> BREAK night",
    "\\(escaped\\) \\[brackets\\] back\\\\slash",
    # long prompts
    "a portrait of a woman, " * 20,
    " ".join(str(i) for i in range(150)),
    "highly detailed digital painting of a castle on a hill at sunset, dramatic lighting, volumetric fog, "
    "trending on artstation, by greg rutkowski and alphonse mucha, octane render, unreal engine 5, 4k wallpaper, "
    "sharp focus, intricate details, vivid colors, cinematic composition, golden hour, wide angle lens, "
    "masterpiece, award winning photograph, beautiful, elegant, ornate, fantasy, concept art, matte painting, "
    "smooth, illustration, hyperrealistic, studio quality, 35mm film grain, bokeh",
    "supercalifragilisticexpialidocious" * 8,
    "!?" * 100,
    # odd cases
    "",
    " ",
    "\n\n\t",
    "a",
    "'",
    "''''",
    "\u00bf\u00a1Qu\u00e9?! \u00ab\u00bb",
    "\ufffd replacement \ufffd",
    "x\u0345y \u1fb3 \u1fbe",
]


def main():
    clip_repo, ftfy_repo, vocab = sys.argv[1:4]
    sys.path.insert(0, ftfy_repo)
    sys.path.insert(0, clip_repo + "/clip")
    import ftfy
    import simple_tokenizer as st
    assert ftfy.__version__ == "6.1.1", ftfy.__version__
    tok = st.SimpleTokenizer(vocab)
    cases = []
    for p in PROMPTS:
        ids = [49406] + tok.encode(p) + [49407]
        clean = st.whitespace_clean(st.basic_clean(p)).lower()
        cases.append({"prompt": p, "clean": clean, "ids": ids})
    json.dump({
        "description": "openai/CLIP SimpleTokenizer with ftfy 6.1.1: ids with start/end, untruncated; "
                       "clean = whitespace_clean(basic_clean(prompt)).lower(). "
                       "Made by tests/data/text/gen_tokenizer_ref.py.",
        "cases": cases,
    }, sys.stdout, ensure_ascii=True, indent=0)
    sys.stdout.write("\n")


main()
