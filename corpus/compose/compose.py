#!/usr/bin/env python3
"""Composes the `composed-*.tsv` files of corpus/train from hand-written fragments.

Every fragment below was written by the qunguan team for this corpus (no line is copied from a
chat log or a public data set; every id, number and link is invented). A message is a few
fragments of one kind joined the ways people join them in chat, and about half of the spam then
goes through an evasion spammers use against group bots (spaced or split characters, emoji
between characters, traditional characters, full-width letters, look-alike letters, circled or
Chinese numerals, pinyin, `xx 点 top` links) — or drops its keyword altogether.

Deterministic: a fixed seed and no dependence on dict order or time, so the same script always
writes the same files. Run from the repository root:

    python3 corpus/compose/compose.py          # writes corpus/train/{spam,ham}/composed-*.tsv

It writes the TRAINING part only; corpus/eval is never written or read.
"""

import os
import random
import sys

from fragments_spam import SPAM
from fragments_ham import HAM
from fragments_en import EN_SPAM, EN_HAM

SEED = 0x5147_434F_5250  # "QGCORP"

# --- invented contacts ---------------------------------------------------------------------

SYLL = ["xiao", "mei", "ling", "hao", "jia", "yun", "fei", "tian", "xin", "le", "an", "bo", "chen",
        "dong", "fu", "gang", "hui", "jun", "kai", "lan", "ming", "nan", "qi", "rui", "shan", "tao",
        "wei", "xu", "yang", "zhi", "kk", "vip", "ok", "go", "pro", "max", "cc", "sd", "dk", "fl"]
WORDS_EN = ["lucky", "happy", "star", "moon", "sun", "gold", "rich", "fast", "easy", "win", "top",
            "best", "smart", "crypto", "fx", "trade", "profit", "coin", "alpha", "prime", "king",
            "queen", "angel", "boss", "team", "help", "desk", "care", "club", "zone", "hub"]
TLD = ["top", "vip", "xyz", "cc", "icu", "club", "site", "shop", "fun", "live", "pro", "com", "net",
       "app", "cn", "me", "io", "online", "link", "win"]
CIRCLED = "⓪①②③④⑤⑥⑦⑧⑨"
DINGBAT = "⓿❶❷❸❹❺❻❼❽❾"
CN_NUM = "零一二三四五六七八九"
CN_FIN = "零壹贰叁肆伍陆柒捌玖"
FULL = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}


def digits(r, n):
    return "".join(r.choice("0123456789") for _ in range(n))


def wx_id(r):
    k = r.random()
    if k < 0.35:
        return r.choice(SYLL) + r.choice(["_", "", "-"]) + r.choice(SYLL) + digits(r, r.randint(2, 4))
    if k < 0.55:
        return r.choice(SYLL) + r.choice(SYLL) + "_" + r.choice(SYLL + WORDS_EN)
    if k < 0.75:
        return r.choice(WORDS_EN) + digits(r, r.randint(3, 6))
    return "1" + r.choice("3456789") + digits(r, 9)


def qq_no(r):
    return r.choice("123456789") + digits(r, r.randint(7, 9))


def phone(r):
    return "1" + r.choice("3456789") + digits(r, 9)


def handle(r):
    return "@" + r.choice(WORDS_EN) + r.choice(["_", ""]) + r.choice(WORDS_EN + SYLL) + r.choice(["", digits(r, 2), "_" + digits(r, 3)])


def domain(r):
    return r.choice(SYLL + WORDS_EN) + r.choice(["", digits(r, 2), r.choice(SYLL)]) + "." + r.choice(TLD)


def number_style(r, num):
    k = r.random()
    if k < 0.55:
        return num
    if k < 0.65:
        return "".join(CIRCLED[int(c)] for c in num)
    if k < 0.72:
        return "".join(DINGBAT[int(c)] for c in num)
    if k < 0.82:
        return "".join(CN_NUM[int(c)] for c in num)
    if k < 0.87:
        return "".join(CN_FIN[int(c)] for c in num)
    if k < 0.94:
        return " ".join(num[i:i + 3] for i in range(0, len(num), 3))
    return "".join(FULL.get(c, c) for c in num)


WX_CUE = ["微信", "V信", "薇信", "威信", "vx", "VX", "wx", "加V", "➕V", "+v", "＋V", "V：", "v:", "微", "薇", "威",
          "徽信", "绿泡泡", "weixin", "wei xin", "加微", "加薇", "嘉V", "卫星", "vx号", "V", "🌿信"]
QQ_CUE = ["QQ", "扣扣", "企鹅", "Q：", "➕Q", "q", "kou kou", "抠抠", "企鹅号", "QQ号"]
GROUP_CUE = ["群号", "Q群", "群：", "新群", "交流群", "福利群"]
TG_CUE = ["飞机", "纸飞机", "TG", "电报", "✈️", "灰机", "telegram"]


def contact(r):
    """An invented way to reach the spammer (the `{c}` slot)."""
    k = r.random()
    sep = r.choice(["", " ", "：", ":", " ", "号 ", "→", "👉"])
    if k < 0.42:
        i = wx_id(r)
        return r.choice(WX_CUE) + sep + (number_style(r, i) if i.isdigit() else i)
    if k < 0.58:
        return r.choice(QQ_CUE) + sep + number_style(r, qq_no(r))
    if k < 0.66:
        return r.choice(GROUP_CUE) + sep + number_style(r, qq_no(r))
    if k < 0.76:
        return r.choice(TG_CUE) + r.choice([" ", "：", " 搜 ", ""]) + handle(r)
    if k < 0.82:
        return r.choice(["t.me/", "https://t.me/", "t.me/+", "t点me/"]) + r.choice(WORDS_EN) + r.choice(SYLL) + digits(r, 2)
    if k < 0.9:
        d = domain(r)
        style = r.random()
        if style < 0.3:
            d = d.replace(".", " 点 ")
        elif style < 0.45:
            d = d.replace(".", "[.]")
        elif style < 0.55:
            d = d.replace(".", "。")
        return r.choice(["", "http://", "https://", "www.", "官网 ", "网址：", "复制打开 "]) + d
    if k < 0.96:
        return r.choice(["电话", "手机", "tel", "☎️", "call", "联系"]) + sep + number_style(r, phone(r))
    return r.choice(["私我", "滴滴我", "戳我头像", "看我主页", "私聊我", "dd我", "主页有联系方式", "扣1私你",
                     "头像加我", "私信我", "找我", "懂的来"])


def soft_contact(r):
    """A call to action without any id (spam that gives no contact in the text)."""
    return r.choice(["私聊", "私我", "滴滴", "dd", "扣1", "有意者私", "戳头像", "看主页", "需要的私信", "懂的来",
                     "速度私", "感兴趣的找我", "有兴趣的留言", "评论区扣1", "回复1", "进群详聊", "私聊详谈",
                     "来问", "想了解的私我", "名额不多先到先得", "需要的戳", "找我拿", "私我发你"])


# --- evasions ------------------------------------------------------------------------------

TRAD = dict(zip(
    "开发结职钱赚单现领红进资贷款额费优联系号码价质货务网络买卖载软线机节点际证书过试题论写处户门们会员时间该这个说请让认识还后从对为东车长万与专业两严乐币赌输赢奖热团购边户关头图页复盘带兑换汇转账证银挂饭师给赠级体验满减广告仅线扫码",
    "開發結職錢賺單現領紅進資貸款額費優聯係號碼價質貨務網絡買賣載軟線機節點際證書過試題論寫處戶門們會員時間該這個說請讓認識還後從對為東車長萬與專業兩嚴樂幣賭輸贏獎熱團購邊戶關頭圖頁複盤帶兌換匯轉賬證銀掛飯師給贈級體驗滿減廣告僅線掃碼"))
HOMO = {"a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "x": "х", "y": "у", "i": "і", "s": "ѕ"}
NOISE = [" ", " ", "-", ".", "·", "*", "_", "|", "~", "❤", "🔥", "✨", "💰", "🌹", "\u200b", "、", "/"]
PINYIN = [("微信", "wei xin"), ("加我", "jia wo"), ("兼职", "jian zhi"), ("日结", "ri jie"), ("红包", "hong bao"),
          ("贷款", "dai kuan"), ("代开", "dai kai"), ("发票", "fa piao"), ("彩票", "cai piao"), ("翻墙", "fan qiang"),
          ("扣扣", "kou kou"), ("福利", "fu li"), ("赚钱", "zhuan qian"), ("下款", "xia kuan"), ("代考", "dai kao")]


def is_cjk(ch):
    return "\u4e00" <= ch <= "\u9fff"


def evade(r, text):
    k = r.random()
    if k < 0.18:  # spaced characters, all or part of the message
        sep = r.choice([" ", " ", "  ", "-", ".", "·", "_", "/", "|"])
        start = r.randint(0, max(0, len(text) // 3))
        end = r.randint(start + 4, len(text)) if len(text) > start + 4 else len(text)
        return text[:start] + sep.join(text[start:end]) + text[end:]
    if k < 0.30:  # noise between CJK characters
        out = []
        for ch in text:
            out.append(ch)
            if is_cjk(ch) and r.random() < 0.45:
                out.append(r.choice(NOISE))
        return "".join(out)
    if k < 0.44:  # traditional characters
        return "".join(TRAD.get(ch, ch) for ch in text)
    if k < 0.52:  # full-width Latin and digits
        return "".join(FULL.get(ch, ch) if ch.isascii() and ch.isalnum() else ch for ch in text)
    if k < 0.58:  # look-alike letters
        return "".join(HOMO.get(ch, ch) if r.random() < 0.6 else ch for ch in text)
    if k < 0.72:  # pinyin for a word or two
        for cn, py in r.sample(PINYIN, len(PINYIN)):
            if cn in text:
                text = text.replace(cn, py, 1)
                if r.random() < 0.5:
                    break
        return text
    if k < 0.82:  # zero-width characters inside words
        return "".join(ch + ("\u200b" if is_cjk(ch) and r.random() < 0.5 else "") for ch in text)
    # emoji decorations around and inside
    deco = r.choice(["🔥", "💰", "✅", "🎁", "👉", "⭐", "💯", "🧧", "📣", "❗"])
    parts = text.split("，")
    return deco + (deco.join(parts) if len(parts) > 1 else text) + deco


# --- composition ---------------------------------------------------------------------------

JOIN = ["，", "，", "。", " ", "！", "～", "；", "\\n", " ", "，", "、", "!!", "。。"]


def fill(r, s):
    while "{c}" in s:
        s = s.replace("{c}", contact(r), 1)
    while "{s}" in s:
        s = s.replace("{s}", soft_contact(r), 1)
    while "{n}" in s:
        s = s.replace("{n}", str(r.choice([2, 3, 5, 8, 10, 20, 30, 50, 66, 88, 99, 100, 128, 150, 200, 288, 300, 500,
                                           666, 800, 888, 1000, 1500, 2000, 3000, 5000, 8000, 10000])), 1)
    while "{p}" in s:
        s = s.replace("{p}", phone(r), 1)
    while "{d}" in s:
        s = s.replace("{d}", domain(r), 1)
    while "{h}" in s:
        s = s.replace("{h}", handle(r), 1)
    while "{q}" in s:
        s = s.replace("{q}", qq_no(r), 1)
    while "{x}" in s:
        cat = SPAM[r.choice(sorted(SPAM))]
        quote = r.choice(cat["hook"]) + (r.choice(["，", " "]) + r.choice(cat["body"]) if r.random() < 0.4 else "")
        s = s.replace("{x}", quote.replace("{c}", "").replace("{n}", "100").replace("{d}", "").replace("{q}", ""), 1)
    while "{o}" in s:
        s = s.replace("{o}", r.choice(["", "", "SF", "JD", "YT", "ZTO", "75"]) + digits(r, r.randint(10, 16)), 1)
    while "{m}" in s:
        s = s.replace("{m}", r.choice(SYLL + WORDS_EN) + r.choice(["", ".", "_"]) + r.choice(SYLL) + r.choice(["", digits(r, 3)])
                      + "@" + r.choice(["qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "foxmail.com",
                                        "school.edu.cn", "company.cn", "example.com"]), 1)
    while "{u}" in s:
        s = s.replace("{u}", r.choice(["https://github.com/", "https://docs.qq.com/doc/", "https://shimo.im/docs/",
                                       "https://www.bilibili.com/video/BV", "https://mp.weixin.qq.com/s/",
                                       "https://pan.baidu.com/s/", "https://www.zhihu.com/question/",
                                       "https://docs.rs/", "https://wj.qq.com/s/", "https://meeting.tencent.com/"])
                      + r.choice(SYLL + WORDS_EN) + r.choice(["", digits(r, 6), "-" + r.choice(SYLL)]), 1)
    while "{w}" in s:
        s = s.replace("{w}", r.choice(["有事微信找我", "微信上说吧", "QQ上发你了", "我QQ好久没登了", "微信语音说不清，打电话吧",
                                       "我把你拉进微信群了", "微信转你了，查收一下", "QQ邮箱收不到验证码", "微信支付还是支付宝",
                                       "他没加我微信，你帮我转告一下", "班级群在QQ上", "微信视频卡了", "加个微信吧，方便联系",
                                       "微信发你了", "私聊你了", "电报群里讨论过这个", "飞机票订好了"]), 1)
    return s


def compose_spam(r, cat):
    pools = SPAM[cat]
    parts = []
    if r.random() < 0.22:
        parts.append(r.choice(pools.get("head", ["【通知】"])))
    parts.append(fill(r, r.choice(pools["hook"])))
    for _ in range(r.choice([0, 1, 1, 2, 2, 3])):
        parts.append(fill(r, r.choice(pools["body"])))
    k = r.random()
    if k < 0.68:
        parts.append(fill(r, r.choice(pools["cta"]) if "cta" in pools and r.random() < 0.5 else "{c}"))
    elif k < 0.9:
        parts.append(soft_contact(r))
    # else: no call to action at all
    r.shuffle(parts[1:-1]) if len(parts) > 3 else None
    text = ""
    for i, p in enumerate(parts):
        if i and not p.startswith("】"):
            text += "" if text.endswith(("】", "，", "！", "：")) else r.choice(JOIN)
        text += p
    if r.random() < 0.5:
        text = evade(r, text)
    return text


def compose_ham(r, topic):
    pools = HAM[topic]
    k = r.random()
    if k < 0.55 or "b" not in pools:
        text = fill(r, r.choice(pools["a"]))
    elif k < 0.85:
        text = fill(r, r.choice(pools["a"])) + r.choice(JOIN) + fill(r, r.choice(pools["b"]))
    else:
        text = fill(r, r.choice(pools["b"]))
    if r.random() < 0.12:
        text += r.choice(["😂", "哈哈", "🤣", "👍", "～", "。", "!", "？", "[捂脸]", "[旺柴]", "😅", "🙏", ""])
    return text


def write(path, header, label, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(header + "\n")
        for line in lines:
            line = line.replace("\t", " ").strip()
            if line:
                f.write(f"{label}\t{line}\n")


def unique(r, make, n, tries=20):
    seen, out = set(), []
    for _ in range(n * tries):
        if len(out) >= n:
            break
        t = make()
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "corpus/train"
    for part in ("spam", "ham"):
        os.makedirs(os.path.join(root, part), exist_ok=True)
    note = ("Composed by corpus/compose/compose.py from the team's hand-written fragments (seeded, "
            "deterministic); do not edit by hand, change the fragments and rerun.")
    for cat in sorted(SPAM):
        r = random.Random(f"{SEED}:spam:{cat}")
        n = SPAM[cat].get("count", 180)
        lines = unique(r, lambda: compose_spam(r, cat), n)
        write(os.path.join(root, "spam", f"composed-{cat}.tsv"),
              f"# qunguan spam corpus, train split, category composed-{cat}. {note}", "spam", lines)
    for topic in sorted(HAM):
        r = random.Random(f"{SEED}:ham:{topic}")
        n = HAM[topic].get("count", 250)
        lines = unique(r, lambda: compose_ham(r, topic), n)
        write(os.path.join(root, "ham", f"composed-{topic}.tsv"),
              f"# qunguan ham corpus, train split, category composed-{topic}. {note}", "ham", lines)
    r = random.Random(f"{SEED}:en")
    write(os.path.join(root, "spam", "composed-english.tsv"),
          f"# qunguan spam corpus, train split, category composed-english. {note}", "spam",
          unique(r, lambda: EN_SPAM(r), 600))
    write(os.path.join(root, "ham", "composed-english.tsv"),
          f"# qunguan ham corpus, train split, category composed-english. {note}", "ham",
          unique(r, lambda: EN_HAM(r), 800))


if __name__ == "__main__":
    main()
