//! Text normalisation: one canonical form for what shoppers type and for the names on menus, so
//! that matching is plain string matching. [`normalise`] documents the steps.
//!
//! In short:
//! 1. At most [`UTTERANCE_CHARS_MAX`](crate::UTTERANCE_CHARS_MAX) characters are read.
//! 2. Characters: full-width ASCII (`Ａ`, `１`, `，`) to half-width, the ideographic space to a
//!    space, Chinese punctuation (`。，、！？；：“”‘’《》【】～…—`) to ASCII, common traditional
//!    characters to simplified ([`traditional_to_simplified`]), Latin accents dropped (`caffè`
//!    becomes `caffe`), lowercase, control characters and every kind of whitespace to one space,
//!    zero-width characters dropped; runs of spaces collapse and the ends are trimmed.
//! 3. Words: the typo list ([`typo`]) replaces whole ASCII words (`lattee` becomes `latte`,
//!    `cappucino` becomes `cappuccino`, `dont` becomes `don't`); `late` becomes `latte` only right
//!    after a quantity, size or milk word, because "late" is also an ordinary word.
//! 4. Chinese numerals become digits where they are quantities or ordinals: before a classifier
//!    (`两杯` becomes `2杯`, `十二个` becomes `12个`), before a size and a classifier (`两大杯`
//!    becomes `2大杯`), and after `第` (`第二个` becomes `第2个`). Elsewhere they stay, so `一样`,
//!    `三里屯` and `一点` keep their meaning.
//!
//! The result keeps, for each of its characters, the span of the original text it came from, so
//! an address or a coupon code can be given back exactly as the shopper wrote it.

use crate::UTTERANCE_CHARS_MAX;

/// Chinese classifiers after which a numeral is a quantity: cup, portion, piece, bowl, bottle,
/// block, box, plate, pot, bag, can, serving.
pub(crate) const CLASSIFIERS: &[char] =
    &['杯', '份', '个', '碗', '瓶', '块', '盒', '盘', '壶', '袋', '罐', '只', '串'];

/// The normalised text and, for each of its characters, where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Normalised {
    pub(crate) text: String,
    /// One entry per character of `text`: (byte offset in `text`, original start, original end).
    map: Vec<(usize, usize, usize)>,
}

impl Normalised {
    pub(crate) fn new(original: &str) -> Normalised {
        let chars = fold_chars(original);
        let chars = rewrite_words(&chars);
        let chars = convert_numerals(&chars);
        let mut text = String::with_capacity(chars.len());
        let mut map = Vec::with_capacity(chars.len());
        for &(c, start, end) in &chars {
            map.push((text.len(), start, end));
            text.push(c);
        }
        Normalised { text, map }
    }

    /// The original text behind the normalised byte range `start..end` (both on character
    /// boundaries of `text`); empty when the range is empty or out of bounds.
    pub(crate) fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        if start >= end {
            return (0, 0);
        }
        let first = self.map.partition_point(|&(at, _, _)| at < start);
        let last = self.map.partition_point(|&(at, _, _)| at < end);
        match (self.map.get(first), last.checked_sub(1).and_then(|index| self.map.get(index))) {
            (Some(&(_, original_start, _)), Some(&(_, _, original_end)))
                if original_start <= original_end =>
            {
                (original_start, original_end)
            }
            _ => (0, 0),
        }
    }
}

/// The normal form of `text`; menu names go through the same function, so matching afterwards
/// is plain string matching. Pure and total: any string gives a string, and normalising twice
/// changes nothing more. Steps, in order:
///
/// 1. At most [`UTTERANCE_CHARS_MAX`] characters are read.
/// 2. Characters: full-width ASCII (`Ａ`, `１`, `，`) to half-width, the ideographic space to a
///    space, Chinese punctuation (`。、“”‘’《》【】〜…—`) to ASCII, about ninety traditional
///    characters of ordering (`拿鐵`, `兩`, `個`, `訂單`, `謝`) to simplified, Latin accents dropped
///    (`caffè` becomes `caffe`), lowercase, control characters and every kind of whitespace to
///    one space, zero-width characters dropped; runs of spaces collapse, the ends are trimmed.
/// 3. Whole ASCII words from a short typo list: `lattee`/`latee` → `latte`, `cappucino` and six
///    other spellings → `cappuccino`, `expresso` → `espresso`, `machiato` → `macchiato`,
///    `frappucino` → `frappuccino`, `coffe`/`cofee` → `coffee`, `choclate` → `chocolate`,
///    `sandwhich` → `sandwich`, `burito` → `burrito`, `quesadila` → `quesadilla`, `piza` →
///    `pizza`, `muffen` → `muffin`, `bubbletea`/`milktea`/`oatmilk`/`icecream` split in two,
///    `pls` → `please`, `thx` → `thanks`, `u` → `you`, `wanna` → `want to`, `dont`/`cant`/`im`/
///    `whats`/`hows` get their apostrophe, `cancle` → `cancel`, `adress` → `address`, `cupon` →
///    `coupon`, `oder` → `order`, `lage` → `large`, `meduim` → `medium`, `samll` → `small`,
///    `suger` → `sugar`, `bluebery` → `blueberry`, `correcly` → `correctly` (the full list is
///    `typo` in this file). `late` becomes `latte` only right after a quantity, size or milk word
///    (`a large late`), because "late" is also an ordinary word (`my order is late`).
/// 4. Chinese numerals become digits where they are quantities or ordinals: before a classifier
///    (`两杯` → `2杯`, `十二个` → `12个`), before a size and a classifier (`两大杯` → `2大杯`), and
///    after `第` (`第二个` → `第2个`). Elsewhere they stay, so `一样`, `三里屯` and `一点` keep
///    their meaning.
pub fn normalise(text: &str) -> String {
    Normalised::new(text).text
}

type Chars = Vec<(char, usize, usize)>;

/// Step 2: character by character.
fn fold_chars(original: &str) -> Chars {
    let mut out: Chars = Vec::with_capacity(original.len().min(UTTERANCE_CHARS_MAX * 2));
    for (index, (start, c)) in original.char_indices().enumerate() {
        if index >= UTTERANCE_CHARS_MAX {
            break;
        }
        let end = start + c.len_utf8();
        let folded = fold_char(c);
        if folded == '\u{0}' {
            continue;
        }
        if folded == ' ' {
            if out.last().is_some_and(|&(last, _, _)| last != ' ') {
                out.push((' ', start, end));
            }
            continue;
        }
        for lower in folded.to_lowercase() {
            out.push((lower, start, end));
        }
    }
    while out.last().is_some_and(|&(last, _, _)| last == ' ') {
        out.pop();
    }
    out
}

/// One character's fold; `'\0'` means "drop it".
fn fold_char(c: char) -> char {
    match c {
        // Full-width ASCII block.
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        '。' | '…' => '.',
        '、' | '､' => ',',
        '“' | '”' | '„' | '《' | '》' | '「' | '」' | '『' | '』' => '"',
        '‘' | '’' | '`' | '´' => '\'',
        '【' | '〔' => '(',
        '】' | '〕' => ')',
        '〜' => '~',
        '—' | '–' => '-',
        '·' | '・' => ' ',
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}' | '\u{00AD}' => '\0',
        'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' | 'À' | 'Á' | 'Â' | 'Ä' | 'Ã' | 'Å' => 'a',
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'Ò' | 'Ó' | 'Ô' | 'Ö' | 'Õ' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
        'ñ' | 'Ñ' => 'n',
        'ç' | 'Ç' => 'c',
        c if c.is_whitespace() || c.is_control() => ' ',
        c => traditional_to_simplified(c),
    }
}

/// The traditional characters that occur in ordering (drinks, food, cart, order, coupon,
/// numbers and classifiers), mapped to simplified; not a general converter.
pub(crate) fn traditional_to_simplified(c: char) -> char {
    match c {
        '鐵' => '铁',
        '點' => '点',
        '來' => '来',
        '兩' => '两',
        '個' => '个',
        '訂' => '订',
        '單' => '单',
        '謝' => '谢',
        '購' => '购',
        '車' => '车',
        '結' => '结',
        '帳' | '賬' => '账',
        '優' => '优',
        '無' => '无',
        '熱' => '热',
        '麥' => '麦',
        '雞' => '鸡',
        '鴨' => '鸭',
        '魚' => '鱼',
        '蝦' => '虾',
        '麵' => '面',
        '飯' => '饭',
        '湯' => '汤',
        '餅' => '饼',
        '糰' => '团',
        '檸' => '柠',
        '蘋' => '苹',
        '層' => '层',
        '濃' => '浓',
        '縮' => '缩',
        '這' => '这',
        '們' => '们',
        '還' => '还',
        '嗎' => '吗',
        '對' => '对',
        '確' => '确',
        '認' => '认',
        '幫' => '帮',
        '買' => '买',
        '賣' => '卖',
        '錢' => '钱',
        '盃' => '杯',
        '號' => '号',
        '紅' => '红',
        '綠' => '绿',
        '燒' => '烧',
        '烏' => '乌',
        '龍' => '龙',
        '黃' => '黄',
        '醬' => '酱',
        '館' => '馆',
        '廳' => '厅',
        '塊' => '块',
        '盤' => '盘',
        '壺' => '壶',
        '隻' => '只',
        '雙' => '双',
        '幾' => '几',
        '麼' => '么',
        '沒' => '没',
        '問' => '问',
        '題' => '题',
        '見' => '见',
        '預' => '预',
        '選' => '选',
        '擇' => '择',
        '換' => '换',
        '門' => '门',
        '區' => '区',
        '樓' => '楼',
        '寫' => '写',
        '體' => '体',
        '總' => '总',
        '價' => '价',
        '費' => '费',
        '運' => '运',
        '達' => '达',
        '裡' | '裏' => '里',
        '邊' => '边',
        '開' => '开',
        '關' => '关',
        '營' => '营',
        '業' => '业',
        '時' => '时',
        '間' => '间',
        '電' => '电',
        '話' => '话',
        '薦' => '荐',
        '處' => '处',
        other => other,
    }
}

/// Step 3: whole-word typo fixes on ASCII words.
fn rewrite_words(chars: &[(char, usize, usize)]) -> Chars {
    let mut out: Chars = Vec::with_capacity(chars.len());
    let mut index = 0;
    let mut previous_word = String::new();
    let mut word = String::new();
    while index < chars.len() {
        let (c, start, end) = chars[index];
        if !is_word_char(c) {
            out.push((c, start, end));
            if c != ' ' {
                previous_word.clear();
            }
            index += 1;
            continue;
        }
        let mut stop = index;
        word.clear();
        while stop < chars.len() && is_word_char(chars[stop].0) {
            word.push(chars[stop].0);
            stop += 1;
        }
        let word_start = chars[index].1;
        let word_end = chars[stop - 1].2;
        let replacement = match typo(&word) {
            Some(fixed) => Some(fixed),
            None if word == "late" && LATTE_BEFORE.contains(&previous_word.as_str()) => Some("latte"),
            None if word == "lates" && LATTE_BEFORE.contains(&previous_word.as_str()) => Some("lattes"),
            None => None,
        };
        match replacement {
            Some(fixed) => out.extend(fixed.chars().map(|c| (c, word_start, word_end))),
            None => out.extend_from_slice(&chars[index..stop]),
        }
        previous_word.clear();
        previous_word.push_str(replacement.unwrap_or(&word));
        index = stop;
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '\''
}

/// Words after which "late" means a latte: quantities, sizes, temperatures and milks.
const LATTE_BEFORE: &[&str] = &[
    "a", "an", "one", "two", "three", "four", "five", "1", "2", "3", "4", "5", "small", "medium", "large",
    "tall", "grande", "venti", "iced", "hot", "oat", "soy", "almond", "skim", "vanilla", "caramel", "matcha",
    "chai",
];

/// Whole-word typos and spellings shoppers use, with their canonical form. The list is short
/// on purpose: only words of this domain, and no word that is itself an English word (except
/// "late", handled with its context above).
pub(crate) fn typo(word: &str) -> Option<&'static str> {
    Some(match word {
        "lattee" | "lattte" | "latee" | "lattae" | "latteh" => "latte",
        "lattees" | "lattess" => "lattes",
        "cappucino" | "capuccino" | "cappuchino" | "capuchino" | "cappuccinno" | "cappacino"
        | "cappicino" | "capucino" | "cappucchino" | "capuccinno" => "cappuccino",
        "cappucinos" | "capuccinos" | "cappuchinos" => "cappuccinos",
        "expresso" | "espreso" | "expreso" | "esspresso" => "espresso",
        "americanno" | "amercano" | "amerciano" | "amerikano" | "americcano" => "americano",
        "machiato" | "macchiatto" | "machiatto" | "macchiado" | "machiado" => "macchiato",
        "moca" | "mochaa" => "mocha",
        "frappucino" | "frapuccino" | "frappuchino" | "frapucino" => "frappuccino",
        "muffen" | "mufin" | "muffinn" | "mufffin" => "muffin",
        "mufins" | "muffens" => "muffins",
        "coffe" | "cofee" | "coffie" | "caffee" | "cofe" | "coffey" | "kofee" => "coffee",
        "coffes" | "cofees" => "coffees",
        "choclate" | "chocolat" | "chocolote" | "chocalate" | "chocolatte" => "chocolate",
        "sandwhich" | "sandwitch" | "sanwich" | "sandwitches" | "sandwhiches" => "sandwich",
        "burito" | "buritto" | "burritto" => "burrito",
        "quesadila" | "quesidilla" | "quesadia" => "quesadilla",
        "tortila" => "tortilla",
        "piza" | "pizzza" | "pizaa" | "pitza" => "pizza",
        "hamburguer" | "hamburgur" => "hamburger",
        "cheeseburguer" | "cheesburger" => "cheeseburger",
        "bubbletea" => "bubble tea",
        "milktea" => "milk tea",
        "icecream" => "ice cream",
        "oatmilk" => "oat milk",
        "soymilk" => "soy milk",
        "coldbrew" => "cold brew",
        "boba's" => "bobas",
        "pls" | "plz" | "pleas" | "pleaz" | "plase" => "please",
        "thx" | "thanx" | "thnx" | "tnx" | "thanxs" | "thnks" | "tahnks" | "thakns" => "thanks",
        "ty" => "thank you",
        "u" => "you",
        "ur" => "your",
        "wanna" => "want to",
        "gimme" => "give me",
        "lemme" => "let me",
        "gonna" => "going to",
        "dont" => "don't",
        "didnt" => "didn't",
        "doesnt" => "doesn't",
        "isnt" => "isn't",
        "wasnt" => "wasn't",
        "cant" => "can't",
        "wont" => "won't",
        "im" => "i'm",
        "ive" => "i've",
        "whats" => "what's",
        "hows" => "how's",
        "wheres" => "where's",
        "thats" => "that's",
        "cancle" | "cancell" | "cacnel" | "cansel" => "cancel",
        "adress" | "addres" | "adresss" | "addresss" => "address",
        "coupone" | "cupon" | "copoun" | "coupen" | "coupan" | "cupoun" => "coupon",
        "coupones" | "cupons" | "copouns" | "coupens" => "coupons",
        "oder" | "ordr" | "ordre" | "oreder" | "odrer" => "order",
        "checkut" | "chekout" | "chcekout" => "checkout",
        "lage" | "larg" | "larze" | "lrage" => "large",
        "meduim" | "medum" | "meidum" | "mediun" => "medium",
        "samll" | "smal" | "smalll" => "small",
        "suger" | "sugr" | "shugar" => "sugar",
        "bluebery" | "bluberry" | "blueberri" => "blueberry",
        "yess" | "yesss" | "yas" => "yes",
        "correcly" | "correclty" | "corectly" => "correctly",
        "noo" | "nooo" => "no",
        "hii" | "hiii" => "hi",
        "helo" | "hellow" | "helllo" => "hello",
        _ => return None,
    })
}

/// Step 4: Chinese numerals that are quantities or ordinals become ASCII digits.
fn convert_numerals(chars: &[(char, usize, usize)]) -> Chars {
    let mut out: Chars = Vec::with_capacity(chars.len());
    let mut index = 0;
    while index < chars.len() {
        if numeral_digit(chars[index].0).is_none() {
            out.push(chars[index]);
            index += 1;
            continue;
        }
        let mut stop = index;
        while stop < chars.len() && stop - index < 4 && numeral_digit(chars[stop].0).is_some() {
            stop += 1;
        }
        let after_ordinal = index > 0 && chars[index - 1].0 == '第';
        let next = chars.get(stop).map(|&(c, _, _)| c);
        let before_classifier = next.is_some_and(|c| CLASSIFIERS.contains(&c))
            || (next.is_some_and(|c| matches!(c, '大' | '中' | '小' | '超'))
                && chars[stop..].iter().take(3).any(|&(c, _, _)| CLASSIFIERS.contains(&c)));
        let value =
            if after_ordinal || before_classifier { numeral_value(&chars[index..stop]) } else { None };
        match value {
            Some(value) => {
                let (start, end) = (chars[index].1, chars[stop - 1].2);
                out.extend(value.to_string().chars().map(|c| (c, start, end)));
            }
            None => out.extend_from_slice(&chars[index..stop]),
        }
        index = stop;
    }
    out
}

fn numeral_digit(c: char) -> Option<u32> {
    Some(match c {
        '零' | '〇' => 0,
        '一' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        '十' => 10,
        _ => return None,
    })
}

/// The value of a numeral of up to four characters below a hundred (`十二`, `二十五`, `两`),
/// or `None` when it is not a well-formed number.
fn numeral_value(chars: &[(char, usize, usize)]) -> Option<u32> {
    let digits: Vec<u32> = chars.iter().map(|&(c, _, _)| numeral_digit(c)).collect::<Option<_>>()?;
    match digits.as_slice() {
        [10] => Some(10),
        [digit] => Some(*digit),
        [10, units] if *units < 10 => Some(10 + units),
        [tens, 10] if (2..10).contains(tens) => Some(tens * 10),
        [tens, 10, units] if (2..10).contains(tens) && *units < 10 && *units > 0 => Some(tens * 10 + units),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_width_case_punctuation_and_spaces() {
        assert_eq!(normalise("  Ｔｗｏ　LATTES，please！ "), "two lattes,please!");
        assert_eq!(normalise("珍珠奶茶。。"), "珍珠奶茶..");
        assert_eq!(normalise("Caffè\tLatte\n\n"), "caffe latte");
        assert_eq!(normalise("a\u{200B}b"), "ab");
        assert_eq!(normalise("I’d like"), "i'd like");
    }

    #[test]
    fn fixes_listed_typos_only_as_whole_words() {
        assert_eq!(normalise("two lattee and a cappucino"), "two latte and a cappuccino");
        assert_eq!(normalise("a large late please"), "a large latte please");
        // "late" stays a word where it is not a drink.
        assert_eq!(normalise("my order is late"), "my order is late");
        // Inside a longer word nothing changes.
        assert_eq!(normalise("chocolately"), "chocolately");
    }

    #[test]
    fn chinese_numerals_become_digits_only_as_quantities() {
        assert_eq!(normalise("两杯珍珠奶茶"), "2杯珍珠奶茶");
        assert_eq!(normalise("来十二个"), "来12个");
        assert_eq!(normalise("二十五份"), "25份");
        assert_eq!(normalise("两大杯拿铁"), "2大杯拿铁");
        assert_eq!(normalise("第二个"), "第2个");
        assert_eq!(normalise("再来一杯一样的"), "再来1杯一样的");
        assert_eq!(normalise("三里屯"), "三里屯");
        assert_eq!(normalise("一点"), "一点");
    }

    #[test]
    fn traditional_characters_are_simplified() {
        assert_eq!(normalise("兩杯拿鐵"), "2杯拿铁");
        assert_eq!(normalise("謝謝"), "谢谢");
    }

    #[test]
    fn spans_point_back_into_the_original() {
        let original = "Send it to 12 Main St， Apt 3";
        let normalised = Normalised::new(original);
        let at = normalised.text.find("12 main").unwrap_or(0);
        let (start, end) = normalised.original_span(at, normalised.text.len());
        assert_eq!(&original[start..end], "12 Main St， Apt 3");
        assert_eq!(normalised.original_span(5, 5), (0, 0));
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for text in ["Two LATTEE, 两杯 奶茶！", "ｘ２ muffins", "第三个", "no ice; 去冰"] {
            let once = normalise(text);
            assert_eq!(normalise(&once), once, "{text}");
        }
    }

    #[test]
    fn input_is_bounded() {
        let long = "a".repeat(UTTERANCE_CHARS_MAX * 3);
        assert_eq!(normalise(&long).chars().count(), UTTERANCE_CHARS_MAX);
    }
}
