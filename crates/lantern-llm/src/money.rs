//! The money guard: every money figure in model-written text must be one a tool returned.
//!
//! Prices and discounts in a reply come from a quote, never from the model (invariant 5). The
//! agent therefore collects the amounts its tools returned (in fen; [`fen_amounts_in_json`] finds
//! them in a tool result) and calls [`check_money`] on the model's text; on a mismatch it sends
//! its template reply instead. The guard errs on the side of seeing money: a quantity mistaken for
//! a price costs a template reply, a price missed could cost the shopper.
//!
//! # What counts as a money figure
//!
//! A number (ASCII or full-width digits, `1,234` thousands groups, a decimal part; or Chinese
//! numerals such as `十二`, `两` before a Chinese unit) is money when:
//!
//! 1. a currency sign or code comes before it: `¥12.50`, `￥12`, `$3`, `US$3`, `RMB 30`,
//!    `CNY30`, `人民币30` (`$` is treated as yuan: the shop has no other currency, and a model
//!    that writes dollars is making a price up either way);
//! 2. a currency word or unit follows it, after at most two spaces or one hyphen: `12.5 yuan`,
//!    `25-yuan`, `30 RMB`, `5 kuai`, `3 bucks`, `12元`, `25元券`, `12块`, `12块钱`, `12块5`
//!    (12.50), `12元5角`, `两块五`, `一块半` (1.50), `5毛` (0.50), `3万元`. `块` followed by a
//!    noun is a measure word, not money (`两块蛋糕`, `一块儿`); so are `毛`/`角` (`三角形`);
//! 3. it has exactly two decimals (`12.50`): in a shop that is a price, unless a date word comes
//!    before it (`有效期至2.28`, `until 2.28`);
//! 4. it follows a price word, across spaces, colons and small words like "is" or "只要":
//!    `total: 28`, `costs 16`, `实付 28`, `满30减5`, `优惠 3`;
//! 5. it is the other end of a range whose end is money: `10-15元`, `¥10~15`.
//!
//! Rules 3 and 4 do not apply when a measure follows: `total: 2 cups`, `2.50 km`, `20%`,
//! `第2杯半价`, `打8折`, `3杯`, `12.50ml`. Percentages and discount rates are not money figures
//! (they are not amounts a tool returns), and numbers glued to letters (`A12`, `x2`, `500ml`) are
//! not either. The sign is ignored (`-¥2.50` is 250 fen), and a figure with more than two decimals
//! or too many digits to hold in fen is money that matches nothing.

use serde_json::Value;

/// Largest number of digits read in one figure; longer is money that matches nothing.
const FIGURE_DIGITS_MAX: u32 = 15;

/// One money mention found in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyMention {
    /// The amount in fen, or `None` when it is not a whole number of fen (`¥1.005`) or too large.
    pub fen: Option<i64>,
    /// The mention as written, currency sign or unit included.
    pub text: String,
    /// Byte offset of the mention in the text.
    pub start: usize,
}

/// A money figure in the model's text that no tool result gave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the model wrote the money figure {figure_text:?} ({}), which no tool result gave; send the \
     template reply instead of the model's text",
    match figure_fen { Some(fen) => format!("{fen} fen"), None => "not a whole number of fen".to_string() }
)]
pub struct MoneyMismatch {
    /// The figure in fen (`None`: not representable in fen).
    pub figure_fen: Option<i64>,
    /// The figure as written.
    pub figure_text: String,
}

/// Every money figure in `text`, in fen, in order (see the module documentation for what counts).
/// Figures that are not a whole number of fen are left out here; [`money_mentions`] has them and
/// [`check_money`] refuses them.
pub fn money_figures(text: &str) -> Vec<i64> {
    money_mentions(text).into_iter().filter_map(|mention| mention.fen).collect()
}

/// Checks that every money figure in `text` equals one of `allowed_fen` (signs ignored on both
/// sides), returning the first that does not.
pub fn check_money(text: &str, allowed_fen: &[i64]) -> Result<(), MoneyMismatch> {
    for mention in money_mentions(text) {
        let allowed =
            mention.fen.is_some_and(|fen| allowed_fen.iter().any(|a| a.unsigned_abs() == fen.unsigned_abs()));
        if !allowed {
            return Err(MoneyMismatch { figure_fen: mention.fen, figure_text: mention.text });
        }
    }
    Ok(())
}

/// Every integer under a key ending in `_fen` in a tool result (Lantern's convention for money),
/// at any depth: the amounts a reply may mention after this tool ran.
pub fn fen_amounts_in_json(value: &Value) -> Vec<i64> {
    let mut amounts = Vec::new();
    collect_fen(value, &mut amounts);
    amounts
}

fn collect_fen(value: &Value, amounts: &mut Vec<i64>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                if key.ends_with("_fen") {
                    if let Some(amount) = field.as_i64() {
                        amounts.push(amount);
                    }
                    if let Some(list) = field.as_array() {
                        amounts.extend(list.iter().filter_map(Value::as_i64));
                    }
                }
                collect_fen(field, amounts);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_fen(item, amounts)),
        _ => {}
    }
}

/// Every money mention in `text` with its place (see the module documentation).
pub fn money_mentions(text: &str) -> Vec<MoneyMention> {
    Scanner::new(text).scan()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Yuan,
    Jiao,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Prefix,
    Suffix,
    Other,
}

#[derive(Debug)]
struct Token {
    /// First char of the mention (the currency sign, when there is one).
    start: usize,
    /// First char of the number.
    number_start: usize,
    /// One past the number's last char.
    number_end: usize,
    /// One past the mention's last char (unit and tenths included).
    end: usize,
    /// All digits as one integer, and how many of them are decimals; `None` if too long.
    mantissa: Option<i128>,
    scale: u32,
    /// Fen added by a tenths part after the unit (`12块5`), and a multiplier (`3万元`).
    extra_fen: i128,
    multiplier: i128,
    money: Option<(Unit, Via)>,
}

struct Scanner {
    chars: Vec<char>,
    offsets: Vec<usize>,
}

const SPACES: [char; 3] = [' ', '\u{a0}', '\u{3000}'];
const CURRENCY_SIGNS: [char; 4] = ['¥', '￥', '$', '＄'];
const CURRENCY_CODES: [&str; 3] = ["rmb", "cny", "usd"];
const CURRENCY_WORDS: [&str; 10] =
    ["yuan", "rmb", "cny", "usd", "kuai", "dollar", "dollars", "buck", "bucks", "元"];
const PRICE_WORDS_EN: [&str; 19] = [
    "price", "prices", "priced", "total", "subtotal", "cost", "costs", "pay", "paying", "paid", "discount",
    "save", "saves", "saving", "fee", "charge", "amount", "spend", "spent",
];
const PRICE_WORDS_ZH: [&str; 23] = [
    "价", "价格", "售价", "单价", "总价", "原价", "现价", "合计", "总计", "共计", "小计", "实付", "应付",
    "支付", "付款", "优惠", "立减", "减", "省", "花", "金额", "费", "满",
];
const DATE_WORDS_EN: [&str; 9] = ["until", "till", "expires", "expiry", "valid", "on", "by", "date", "from"];
const DATE_WORDS_ZH: [&str; 8] = ["至", "到", "截止", "截至", "有效期", "日期", "从", "于"];
const FILLERS: [&str; 17] = [
    "is", "of", "only", "just", "at", "was", "be", "will", "to", "comes", "为", "是", "只要", "仅", "仅需",
    "只需", "要",
];
/// English measure words after which a number is a quantity, not money.
const MEASURES_EN: [&str; 44] = [
    "cup", "cups", "item", "items", "drink", "drinks", "piece", "pieces", "pcs", "order", "orders", "bottle",
    "bottles", "x", "min", "mins", "minute", "minutes", "hour", "hours", "hr", "hrs", "day", "days", "km",
    "m", "ml", "l", "g", "kg", "oz", "star", "stars", "people", "person", "persons", "shop", "shops",
    "store", "stores", "times", "percent", "points", "seconds",
];
/// Chinese measure words and units after which a number is a quantity, not money.
const MEASURES_ZH: &str = "杯个份件瓶碗盒位分时天折号款种次单家人米层楼克秒岁张包袋串条只桶罐";
const CN_DIGITS: &str = "零〇一二两三四五六七八九";
const CN_NUMERALS: &str = "零〇一二两三四五六七八九十百千万";

fn digit_value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => c.to_digit(10),
        '０'..='９' => Some(u32::from(c) - u32::from('０')),
        _ => None,
    }
}

fn cn_digit_value(c: char) -> Option<i128> {
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
        _ => return None,
    })
}

fn is_ideograph(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

fn pow10(exponent: u32) -> i128 {
    10_i128.pow(exponent)
}

impl Scanner {
    fn new(text: &str) -> Self {
        let mut chars = Vec::with_capacity(text.len());
        let mut offsets = Vec::with_capacity(text.len() + 1);
        for (offset, c) in text.char_indices() {
            chars.push(c);
            offsets.push(offset);
        }
        offsets.push(text.len());
        Scanner { chars, offsets }
    }

    fn at(&self, index: usize) -> Option<char> {
        self.chars.get(index).copied()
    }

    fn is_digit_at(&self, index: usize) -> bool {
        self.at(index).and_then(digit_value).is_some()
    }

    fn scan(&self) -> Vec<MoneyMention> {
        let mut tokens = Vec::new();
        let mut index = 0;
        while index < self.chars.len() {
            let c = self.chars[index];
            let token = if digit_value(c).is_some() {
                Some(self.digits_token(index))
            } else if CN_NUMERALS.contains(c) {
                self.chinese_token(index)
            } else {
                None
            };
            match token {
                Some(token) => {
                    index = token.end.max(index + 1);
                    tokens.push(token);
                }
                None => index += 1,
            }
        }
        self.propagate_ranges(&mut tokens);
        tokens.into_iter().filter_map(|token| self.mention(&token)).collect()
    }

    /// Reads `1,234.50` (ASCII or full-width digits) from `start` and decides whether it is money.
    fn digits_token(&self, start: usize) -> Token {
        let mut mantissa: Option<i128> = Some(0);
        let mut digits = 0_u32;
        let mut scale = 0_u32;
        let mut push = |digit: u32, mantissa: &mut Option<i128>| {
            digits += 1;
            *mantissa = if digits > FIGURE_DIGITS_MAX {
                None
            } else {
                mantissa.map(|value| value * 10 + i128::from(digit))
            };
        };
        let mut index = start;
        while let Some(digit) = self.at(index).and_then(digit_value) {
            push(digit, &mut mantissa);
            index += 1;
            // A thousands group: a comma and exactly three digits.
            if self.at(index) == Some(',')
                && (1..=3).all(|k| self.is_digit_at(index + k))
                && !self.is_digit_at(index + 4)
            {
                index += 1;
            }
        }
        if matches!(self.at(index), Some('.' | '．')) && self.is_digit_at(index + 1) {
            index += 1;
            while let Some(digit) = self.at(index).and_then(digit_value) {
                push(digit, &mut mantissa);
                scale += 1;
                index += 1;
            }
        }
        let mut token = Token {
            start,
            number_start: start,
            number_end: index,
            end: index,
            mantissa,
            scale,
            extra_fen: 0,
            multiplier: 1,
            money: None,
        };
        self.classify_digits(&mut token);
        token
    }

    fn classify_digits(&self, token: &mut Token) {
        let glued_before = self.letters_before(token.number_start);
        let prefix = self.currency_prefix(token.number_start);
        if !glued_before.is_empty() && prefix.is_none() {
            return; // A12, x2: part of a word.
        }
        if self.suffix(token, true) {
            if let Some(prefix_start) = prefix {
                token.start = prefix_start;
            }
            return;
        }
        if let Some(prefix_start) = prefix {
            token.start = prefix_start;
            token.money = Some((Unit::Yuan, Via::Prefix));
            return;
        }
        if self.measure_follows(token.number_end) {
            return;
        }
        let price_word = self.word_before(token.number_start, &PRICE_WORDS_EN, &PRICE_WORDS_ZH);
        // `有效期至2.28`, `until 2.28`: a date written with a dot, not a price.
        let two_decimals =
            token.scale == 2 && !self.word_before(token.number_start, &DATE_WORDS_EN, &DATE_WORDS_ZH);
        if two_decimals || price_word {
            token.money = Some((Unit::Yuan, Via::Other));
        }
    }

    /// Reads `十二块五`: Chinese numerals are money only directly before a Chinese unit.
    fn chinese_token(&self, start: usize) -> Option<Token> {
        let mut index = start;
        while self.at(index).is_some_and(|c| CN_NUMERALS.contains(c)) {
            index += 1;
        }
        let run = &self.chars[start..index];
        if !run.iter().any(|&c| CN_DIGITS.contains(c)) && run.first() != Some(&'十') {
            return None;
        }
        let mut token = Token {
            start,
            number_start: start,
            number_end: index,
            end: index,
            mantissa: parse_chinese(run),
            scale: 0,
            extra_fen: 0,
            multiplier: 1,
            money: None,
        };
        if self.suffix(&mut token, false) { Some(token) } else { None }
    }

    /// ASCII letters directly before `index`, lowercased.
    fn letters_before(&self, index: usize) -> String {
        let mut begin = index;
        while begin > 0 && self.chars[begin - 1].is_ascii_alphabetic() {
            begin -= 1;
        }
        self.chars[begin..index].iter().map(char::to_ascii_lowercase).collect()
    }

    /// Where a currency sign or code before the number at `index` starts, if there is one.
    fn currency_prefix(&self, index: usize) -> Option<usize> {
        let mut k = index;
        let mut spaces = 0;
        while k > 0 && SPACES.contains(&self.chars[k - 1]) && spaces < 3 {
            k -= 1;
            spaces += 1;
        }
        let before = k.checked_sub(1).map(|i| self.chars[i])?;
        if CURRENCY_SIGNS.contains(&before) {
            return Some(k - 1);
        }
        let letters = self.letters_before(k);
        if !letters.is_empty() && CURRENCY_CODES.contains(&letters.as_str()) {
            return Some(k - letters.len());
        }
        if k >= 3 && self.chars[k - 3..k] == ['人', '民', '币'] {
            return Some(k - 3);
        }
        None
    }

    /// Whether a measure word, a percent sign or glued letters follow the number: then only a
    /// currency sign or unit makes it money.
    fn measure_follows(&self, index: usize) -> bool {
        if self.at(index).is_some_and(|c| c.is_ascii_alphabetic()) {
            return true;
        }
        let mut k = index;
        while self.at(k).is_some_and(|c| SPACES.contains(&c)) {
            k += 1;
        }
        match self.at(k) {
            Some('%' | '％' | '‰') => true,
            Some(c) if MEASURES_ZH.contains(c) => true,
            Some(c) if c.is_ascii_alphabetic() => MEASURES_EN.contains(&self.word_at(k).as_str()),
            _ => false,
        }
    }

    fn word_at(&self, index: usize) -> String {
        let mut end = index;
        while self.at(end).is_some_and(|c| c.is_ascii_alphabetic()) {
            end += 1;
        }
        self.chars[index..end].iter().map(char::to_ascii_lowercase).collect()
    }

    /// Whether a CJK noun follows, making `块`/`毛`/`角` a measure word (`两块蛋糕`, `三角形`).
    fn noun_follows(&self, index: usize) -> bool {
        match self.at(index) {
            Some('钱' | '的') | None => false,
            Some('半') => self.at(index + 1) == Some('价'),
            Some(c) if CN_DIGITS.contains(c) => false,
            Some(c) => is_ideograph(c),
        }
    }

    /// Reads a currency word or unit after the number (and a tenths part after `元`/`块`); marks
    /// the token as money and extends it when found. `loose` allows spaces or a hyphen before the
    /// unit and English currency words (for digits; Chinese numerals need the unit at once).
    fn suffix(&self, token: &mut Token, loose: bool) -> bool {
        let mut k = token.number_end;
        if loose {
            if self.at(k) == Some('-') {
                k += 1;
            } else {
                let mut spaces = 0;
                while self.at(k).is_some_and(|c| SPACES.contains(&c)) && spaces < 2 {
                    k += 1;
                    spaces += 1;
                }
            }
            if self.at(k).is_some_and(|c| c.is_ascii_alphabetic()) {
                let word = self.word_at(k);
                if CURRENCY_WORDS.contains(&word.as_str()) {
                    token.end = k + word.chars().count();
                    token.money = Some((Unit::Yuan, Via::Suffix));
                    return true;
                }
                return false;
            }
        }
        if self.at(k) == Some('万') && matches!(self.at(k + 1), Some('元' | '圆' | '块' | '塊')) {
            token.multiplier = 10_000;
            k += 1;
        }
        match self.at(k) {
            Some('元' | '圆') => {}
            Some('块' | '塊') if !self.noun_follows(k + 1) => {}
            Some('毛' | '角') if token.multiplier == 1 && !self.noun_follows(k + 1) => {
                token.end = k + 1;
                token.money = Some((Unit::Jiao, Via::Suffix));
                return true;
            }
            _ => return false,
        }
        token.end = k + 1;
        token.money = Some((Unit::Yuan, Via::Suffix));
        if let Some((tenths_fen, end)) = self.tenths(k + 1) {
            token.extra_fen = tenths_fen;
            token.end = end;
        }
        true
    }

    /// A tenths part after `元`/`块`: `5`, `五`, `5毛`, `五角`, `半`.
    fn tenths(&self, index: usize) -> Option<(i128, usize)> {
        let c = self.at(index)?;
        if c == '半' {
            return (self.at(index + 1) != Some('价')).then_some((50, index + 1));
        }
        let digit = digit_value(c).map(i128::from).or_else(|| cn_digit_value(c))?;
        let after = index + 1;
        if matches!(self.at(after), Some('毛' | '角')) {
            return Some((digit * 10, after + 1));
        }
        let ascii = digit_value(c).is_some();
        let ends_here = match self.at(after) {
            None => true,
            Some(next) if ascii => {
                digit_value(next).is_none() && next != '.' && next != '．' && !MEASURES_ZH.contains(next)
            }
            Some(next) => !is_ideograph(next) || next == '钱' || next == '的',
        };
        ends_here.then_some((digit * 10, after))
    }

    /// Whether one of `en` (as a whole word) or `zh` ends just before `index`, across spaces,
    /// colons and small words.
    fn word_before(&self, index: usize, en: &[&str], zh: &[&str]) -> bool {
        const LOOK_BACK_CHARS: usize = 24;
        let begin = index.saturating_sub(LOOK_BACK_CHARS);
        let mut before: String = self.chars[begin..index].iter().collect::<String>().to_lowercase();
        let trim = |text: &mut String| {
            let kept = text
                .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '：' | '=' | '，' | ','));
            text.truncate(kept.len());
        };
        trim(&mut before);
        while let Some(filler) = FILLERS.iter().find(|filler| ends_with_word(&before, filler)) {
            before.truncate(before.len() - filler.len());
            trim(&mut before);
        }
        en.iter().any(|word| ends_with_word(&before, word)) || zh.iter().any(|word| before.ends_with(word))
    }

    /// Marks the unmarked end of a range whose other end is money: `10-15元`, `¥10~15`.
    fn propagate_ranges(&self, tokens: &mut [Token]) {
        const RANGE_MARKS: [&str; 7] = ["-", "~", "～", "–", "—", "至", "到"];
        for i in 1..tokens.len() {
            let (left, right) = tokens.split_at_mut(i);
            let (Some(first), Some(second)) = (left.last_mut(), right.first_mut()) else { continue };
            let gap: String = self.chars[first.end.min(second.start)..second.start].iter().collect();
            if !RANGE_MARKS.contains(&gap.trim()) {
                continue;
            }
            match (first.money, second.money) {
                (None, Some((unit, Via::Suffix))) if first.end == first.number_end => {
                    first.money = Some((unit, Via::Other));
                    first.multiplier = second.multiplier;
                }
                (Some((unit, Via::Prefix)), None) if !self.measure_follows(second.number_end) => {
                    second.money = Some((unit, Via::Other));
                }
                _ => {}
            }
        }
    }

    fn mention(&self, token: &Token) -> Option<MoneyMention> {
        let (unit, _) = token.money?;
        let fen_per_unit = match unit {
            Unit::Yuan => 100,
            Unit::Jiao => 10,
        };
        let fen = token.mantissa.and_then(|mantissa| {
            let scaled = mantissa * fen_per_unit * token.multiplier;
            let divisor = pow10(token.scale);
            (scaled % divisor == 0).then(|| scaled / divisor + token.extra_fen)
        });
        Some(MoneyMention {
            fen: fen.and_then(|fen| i64::try_from(fen).ok()),
            text: self.chars[token.start..token.end].iter().collect(),
            start: self.offsets[token.start],
        })
    }
}

fn ends_with_word(text: &str, word: &str) -> bool {
    text.strip_suffix(word).is_some_and(|rest| !rest.chars().next_back().is_some_and(char::is_alphanumeric))
}

/// `十二` → 12, `一百零五` → 105, `两千` → 2000, `三万五千` → 35000.
fn parse_chinese(run: &[char]) -> Option<i128> {
    let mut total: i128 = 0;
    let mut section: i128 = 0;
    let mut number: i128 = 0;
    for &c in run {
        if let Some(digit) = cn_digit_value(c) {
            number = digit;
            continue;
        }
        match c {
            '十' => section += if number == 0 { 1 } else { number } * 10,
            '百' => section += number * 100,
            '千' => section += number * 1000,
            '万' => {
                total += (section + number) * 10_000;
                section = 0;
            }
            _ => return None,
        }
        number = 0;
    }
    Some(total + section + number)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn figures(text: &str) -> Vec<i64> {
        money_figures(text)
    }

    #[test]
    fn the_briefs_examples_are_money() {
        let cases: &[(&str, &[i64])] = &[
            ("¥12.50", &[1250]),
            ("￥12", &[1200]),
            ("12.5 yuan", &[1250]),
            ("12元", &[1200]),
            ("12块5", &[1250]),
            ("RMB 30", &[3000]),
            ("25-yuan coupon", &[2500]),
            ("$3", &[300]),
            ("that is 12.50 yuan", &[1250]),
            ("25元券", &[2500]),
        ];
        for (text, expected) in cases {
            assert_eq!(figures(text), *expected, "{text}");
        }
    }

    #[test]
    fn quantities_are_not_money() {
        for text in [
            "2 cups",
            "第2杯半价",
            "3杯珍珠奶茶",
            "打8折",
            "20% off",
            "x2",
            "A12",
            "500ml",
            "order #12345",
            "2.5 km away",
            "rated 4.5 stars",
            "ready in 15 minutes",
            "两块蛋糕",
            "一块儿去",
            "三角形",
            "total: 2 cups",
            "price of 2 drinks",
            "the total is 3 items",
            "第一杯",
            "2026年2月",
            "有效期至2.28",
            "the coupon is valid until 2.28",
        ] {
            assert_eq!(figures(text), Vec::<i64>::new(), "{text}");
        }
    }

    #[test]
    fn chinese_forms() {
        let cases: &[(&str, &[i64])] = &[
            ("只要十二块五", &[1250]),
            ("两块钱", &[200]),
            ("一块半", &[150]),
            ("五毛", &[50]),
            ("12元5角", &[1250]),
            ("12块5毛钱", &[1250]),
            ("12块一杯", &[1200]),
            ("一百零五元", &[10500]),
            ("3万元", &[3_000_000]),
            ("满30减5", &[3000, 500]),
            ("实付：28", &[2800]),
            ("１２元", &[1200]),
            ("人民币30", &[3000]),
            ("12块的奶茶", &[1200]),
            ("10-15元", &[1000, 1500]),
            ("¥10~15", &[1000, 1500]),
        ];
        for (text, expected) in cases {
            assert_eq!(figures(text), *expected, "{text}");
        }
    }

    #[test]
    fn english_forms() {
        let cases: &[(&str, &[i64])] = &[
            ("Total: 28", &[2800]),
            ("It costs only 16.", &[1600]),
            ("The price is 9", &[900]),
            ("Your total comes to 28 today", &[2800]),
            ("Your total will be 28", &[2800]),
            ("¥1,234.50 in all", &[123_450]),
            ("30RMB", &[3000]),
            ("CNY30", &[3000]),
            ("US$3.5", &[350]),
            ("5 kuai", &[500]),
            ("a -¥2.50 discount", &[250]),
            ("¥12.50 - ¥2.50 = ¥10.00", &[1250, 250, 1000]),
            ("2 cups for ¥25", &[2500]),
            ("12.50", &[1250]),
        ];
        for (text, expected) in cases {
            assert_eq!(figures(text), *expected, "{text}");
        }
    }

    #[test]
    fn check_money_accepts_only_tool_amounts() {
        let allowed = [1250, 2500, -250];
        assert_eq!(
            check_money("Your Taro Milk Tea is ¥12.50, 2 cups; the 25元券 takes ¥2.50 off.", &allowed),
            Ok(())
        );
        let error = check_money("That will be ¥10.00 after the coupon.", &allowed).unwrap_err();
        assert_eq!(error, MoneyMismatch { figure_fen: Some(1000), figure_text: "¥10.00".to_string() });
        assert!(error.to_string().contains("template reply"));
        let error = check_money("about ¥1.005", &allowed).unwrap_err();
        assert_eq!(error.figure_fen, None);
        assert_eq!(check_money("no figures, just 2 cups", &[]), Ok(()));
    }

    #[test]
    fn mentions_carry_their_text_and_place() {
        let mentions = money_mentions("奶茶 12块5 好");
        assert_eq!(mentions.len(), 1);
        assert_eq!(mentions[0].text, "12块5");
        assert_eq!(mentions[0].start, "奶茶 ".len());
        assert_eq!(money_mentions("¥ 12 ok")[0].text, "¥ 12");
    }

    #[test]
    fn huge_figures_match_nothing() {
        let text = format!("¥{}", "9".repeat(40));
        assert_eq!(money_mentions(&text)[0].fen, None);
        assert!(check_money(&text, &[i64::MAX]).is_err());
    }

    #[test]
    fn fen_amounts_are_found_at_any_depth() {
        let result = serde_json::json!({
            "quote": {"subtotal_fen": 2500, "lines": [{"price_fen": 1250, "quantity": 2}], "discount_fen": -2500},
            "total_fen": 0, "item_id": 7
        });
        let mut amounts = fen_amounts_in_json(&result);
        amounts.sort_unstable();
        assert_eq!(amounts, vec![-2500, 0, 1250, 2500]);
    }
}
