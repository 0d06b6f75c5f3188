#!/usr/bin/env python3
"""Writes gpu-verify/tests/data/tokenizer-reference.json: token ids that the reference
implementation (the Python `tokenizers` package, with the model's published tokenizer.json)
gives for a multilingual set of sentences. gpu-verify's tokenizer test compares against it.

    python3 -m pip install tokenizers
    scripts/tokenizer-reference.py "$(scripts/fetch-minilm.sh)/tokenizer.json"
"""
import json
import sys

from tokenizers import Tokenizer

MAX_LEN = 256

SENTENCES = {
    "english": [
        "The quick brown fox jumps over the lazy dog.",
        "Thanks!",
        "How do I reset my password?",
        "Machine learning models are trained on large datasets.",
        "She sells seashells by the seashore.",
        "It's a beautiful day, isn't it?",
    ],
    "french": [
        "Il était une fois une très belle princesse qui vivait dans un château.",
        "Où est la gare la plus proche, s'il vous plaît ?",
        "Les élèves ont célébré Noël à l'école.",
        "Ça coûte cher, n'est-ce pas?",
        "Je préfère le thé à la crème brûlée.",
        "L'œuvre de Molière reste très étudiée.",
    ],
    "vietnamese": [
        "Tôi yêu tiếng Việt và văn hoá Việt Nam.",
        "Người ta thường nói rằng học không bao giờ là muộn.",
        "Hôm nay trời đẹp quá, chúng ta đi dạo nhé.",
        "Phở bò là món ăn nổi tiếng của Hà Nội.",
    ],
    "arabic": [
        "مرحبا بالعالم، كيف حالك اليوم؟",
        "إنّ القراءة غذاء العقل والروح.",
        "أحب تعلم اللغات الجديدة؛ إنها ممتعة.",
        "ذهبتُ إلى السوق واشتريتُ الخبز.",
    ],
    "chinese": [
        "我喜欢在周末去公园散步。",
        "机器学习正在改变世界。",
        "今天天气很好，我们去爬山吧！",
        "他说：“这本书非常有意思。”",
    ],
    "russian": [
        "Привет, мир! Как у тебя дела?",
        "Ёжик в тумане — мой любимый мультфильм.",
        "Съешь же ещё этих мягких французских булок, да выпей чаю.",
        "Москва — столица России.",
    ],
    "other_scripts": [
        "Straße, Mädchen, Füße und Öl.",
        "El niño comió piña en la montaña.",
        "Γειά σου Κόσμε, τι κάνεις;",
        "Merhaba dünya, nasılsın? Çok güzel!",
        "こんにちは世界、元気ですか？",
        "안녕하세요 세계",
        "नमस्ते दुनिया, आप कैसे हैं?",
        "Zażółć gęślą jaźń.",
        "Příliš žluťoučký kůň úpěl ďábelské ódy.",
        "Ångström, señor, naïve café, façade, coöperate, résumé.",
        "שלום עולם, מה שלומך?",
        "สวัสดีชาวโลก",
    ],
    "emoji": [
        "I love pizza 🍕 and sushi 🍣!!!",
        "🚀🚀🚀 To the moon 🌕",
        "Family: 👨‍👩‍👧‍👦, flags: 🇫🇷🇯🇵, skin tones: 👍🏽",
    ],
    "code": [
        'fn main() { println!("{}", 1 + 2); }',
        "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
        "SELECT name, COUNT(*) FROM users WHERE age > 30 GROUP BY name;",
        "def f(x): return x**2 if x > 0 else -x  # comment",
        "<div class=\"a\">Hello &amp; welcome</div>",
    ],
    "numbers": [
        "The price rose 3.75% to $1,234.56 on 2024-03-15.",
        "Call +1 (555) 012-3456 or email me at test@example.com.",
        "3.14159265358979323846264338327950288419716939937510",
        "1st, 2nd, 3rd, 4th; 10,000,000 and 0.001",
    ],
    "punctuation": [
        "...?!;:—–\"'()[]{}<>/\\|@#$%^&*_+=~`",
        "Wait... what?! No way!!!",
        "«Guillemets», „Anführungszeichen“, 「かぎかっこ」",
        "¿Qué? ¡Sí!",
    ],
    "capitals": [
        "WHY ARE YOU SHOUTING IN ALL CAPS?",
        "NASA, the FBI and UNESCO met in NYC.",
        "iPhone, eBay, McDonald's and YouTube.",
    ],
    "unicode_oddities": [
        "The ﬁrst ligature and the ½ fraction and ² superscript.",
        "Tab\tseparated\tvalues\there",
        "Non-breaking\u00a0space and zero\u200bwidth.",
        "Combining: e\u0301 vs é, a\u0308 vs ä.",
        "Line\nbreaks\r\nand\u2028separators",
        "Fullwidth ＡＢＣ１２３ and ｶﾀｶﾅ",
        "",
        "   ",
    ],
    "long": [
        "The quick brown fox jumps over the lazy dog. " * 40,
        "Supercalifragilisticexpialidocious" * 5,
        ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua. ") * 12,
    ],
}


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    tok = Tokenizer.from_file(sys.argv[1])
    tok.no_padding()
    tok.enable_truncation(MAX_LEN)
    rows = []
    for category, texts in SENTENCES.items():
        for text in texts:
            rows.append({"category": category, "text": text, "ids": tok.encode(text).ids})
    out = "gpu-verify/tests/data/tokenizer-reference.json"
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"max_len": MAX_LEN, "reference": "Python tokenizers " + __import__("tokenizers").__version__,
                   "sentences": rows}, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{len(rows)} sentences -> {out}")


if __name__ == "__main__":
    main()
