//! Small hand-made character tables that Unicode's own data does not provide: dingbat digits
//! and negative squared letters (NFKC leaves them alone), Cyrillic/Greek letters that look
//! like Latin ones, and the Chinese numerals of the digit view.
//!
//! The lists follow the digit and letter variants seen in Chinese ad spam (the same ranges
//! the popular Chinese filters fold); each entry is a single code point mapped to a single
//! code point, so offsets stay trivial.

/// An emoji that stands for a contact channel's name in Chinese ads, read as that name: the
/// penguin is QQ's mascot (`🐧 12345678` gives a QQ number), the aeroplane Telegram's nickname
/// 飞机 (`✈️ @handle`). Every other emoji stays noise.
pub(crate) fn contact_emoji(c: char) -> Option<&'static [char]> {
    match c {
        '\u{1F427}' => Some(&['q', 'q']),
        '\u{2708}' | '\u{1F6E9}' => Some(&['飞', '机']),
        _ => None,
    }
}

/// A styled digit or letter that NFKC does not fold: dingbat circled digits (❶ ➀ ➊ ⓵ ⓿)
/// and the negative circled/squared letters (🅐 🅰).
pub(crate) fn styled(c: char) -> Option<char> {
    let cp = u32::from(c);
    let digit = |base: u32, first: u32| char::from_digit((cp - base + first) % 10, 10);
    match cp {
        // ❶–❿, ➀–➉, ➊–➓: 1..10 (10 → 0 would be wrong; keep 1..9 and fold 10 to "1").
        0x2776..=0x277E => digit(0x2776, 1),
        0x2780..=0x2788 => digit(0x2780, 1),
        0x278A..=0x2792 => digit(0x278A, 1),
        // ⓵–⓽ double circled 1..9, ⓿ negative circled zero.
        0x24F5..=0x24FD => digit(0x24F5, 1),
        0x24FF => Some('0'),
        // 🅐–🅩 negative circled, 🅰–🆉 negative squared capital letters.
        0x1F150..=0x1F169 => char::from_u32(u32::from('a') + cp - 0x1F150),
        0x1F170..=0x1F189 => char::from_u32(u32::from('a') + cp - 0x1F170),
        _ => None,
    }
}

/// The Latin letter a Cyrillic or Greek letter, or a Latin small capital, is written to look
/// like (lower case in and out; the table lower-cases first).
///
/// Small capitals (`ᴍᴇꜱꜱᴀɢᴇ ᴍᴇ`, what "tiny text" generators write) are lower-case letters of
/// their own that NFKC leaves alone; without them a message in small capitals reads as a
/// script the model does not cover.
pub(crate) fn homoglyph(c: char) -> Option<char> {
    Some(match c {
        // Latin small capitals (IPA extensions, phonetic extensions, Latin extended-D)
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ꜰ' => 'f',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' => 'l',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        // Cyrillic
        'а' => 'a',
        'в' => 'b',
        'с' => 'c',
        'ѕ' => 's',
        'ԁ' => 'd',
        'е' | 'ё' | 'є' => 'e',
        'һ' => 'h',
        'і' | 'ї' | 'ӏ' => 'i',
        'ј' => 'j',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'ԛ' => 'q',
        'т' => 't',
        'у' | 'ү' => 'y',
        'ԝ' => 'w',
        'х' | 'ҳ' => 'x',
        'ь' => 'b',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'ϲ' | 'ς' => 'c',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ω' => 'w',
        'ϳ' => 'j',
        _ => return None,
    })
}

/// The digit a Chinese numeral stands for in a contact number (一三八 → 138, 幺 = 1, 两 = 2,
/// 壹贰叁 …). Used only by the digit view: folding 三 into 3 in the keyword view would break
/// phrases such as 下三滥.
pub(crate) fn numeral_digit(c: char) -> Option<char> {
    Some(match c {
        '零' | '〇' | '洞' => '0',
        '一' | '幺' | '壹' => '1',
        '二' | '两' | '贰' => '2',
        '三' | '叁' => '3',
        '四' | '肆' => '4',
        '五' | '伍' => '5',
        '六' | '陆' => '6',
        '七' | '柒' => '7',
        '八' | '捌' => '8',
        '九' | '玖' => '9',
        _ => return None,
    })
}

/// The code points of [`numeral_digit`], as a bitmap over the BMP: checking every character
/// of a message with a 23-way `match` costs more than one bit test.
static NUMERALS: [u64; 1024] = {
    let mut bits = [0u64; 1024];
    let list = [
        '零', '〇', '洞', '一', '幺', '壹', '二', '两', '贰', '三', '叁', '四', '肆', '五', '伍', '六', '陆', '七',
        '柒', '八', '捌', '九', '玖',
    ];
    let mut i = 0;
    while i < list.len() {
        let cp = list[i] as usize;
        bits[cp >> 6] |= 1 << (cp & 63);
        i += 1;
    }
    bits
};

/// Whether [`numeral_digit`] reads `c` as a digit.
#[inline]
pub(crate) fn is_numeral(c: char) -> bool {
    let cp = c as usize;
    cp < 0x1_0000 && NUMERALS[cp >> 6] & (1 << (cp & 63)) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styled_digits_and_letters() {
        let cases = [
            ('❶', '1'),
            ('❾', '9'),
            ('➀', '1'),
            ('➒', '9'),
            ('⓵', '1'),
            ('⓿', '0'),
            ('🅥', 'v'),
            ('🅧', 'x'),
            ('🅰', 'a'),
            ('🆉', 'z'),
        ];
        for (c, want) in cases {
            assert_eq!(styled(c), Some(want), "{c}");
        }
        assert_eq!(styled('a'), None);
        assert_eq!(styled('❿'), None, "ten has no single digit");
    }

    #[test]
    fn small_capitals_read_as_latin_letters() {
        let word: String = "ᴍᴇꜱꜱᴀɢᴇ ʀᴇᴀʟ ᴘʀᴏꜰɪᴛ ʙɪɢ ᴊᴏᴋᴇ ᴢᴏᴏ ᴡʜʏ ʟᴏᴠᴇ ᴛᴜɴᴇ"
            .chars()
            .map(|c| homoglyph(c).unwrap_or(c))
            .collect();
        assert_eq!(word, "message real profit big joke zoo why love tune");
    }

    #[test]
    fn the_numeral_bitmap_agrees_with_the_table() {
        for cp in 0..0x1_0000u32 {
            let Some(c) = char::from_u32(cp) else { continue };
            assert_eq!(is_numeral(c), numeral_digit(c).is_some(), "{c:?}");
        }
    }
}
