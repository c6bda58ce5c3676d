//! The fast scanner against saphyr: on every text it accepts, the same events at the same
//! start positions, and saphyr accepts it too. Texts are written by hand for the edges and
//! generated (fragments glued at random, and random trees in block and flow styles, some with
//! a character inserted) for what nobody thought of.

use saphyr_parser::{Event, Parser};

use super::Scanner;

/// An event as compared: its text, and where it starts (ends and markers are not compared,
/// the reader uses the starts of nodes only).
type Seen = (String, Option<(usize, usize)>);

fn seen(event: &Event<'_>, line: usize, column: usize) -> Seen {
    let at = match event {
        Event::SequenceEnd
        | Event::MappingEnd
        | Event::DocumentStart(_)
        | Event::DocumentEnd
        | Event::StreamStart
        | Event::StreamEnd => None,
        _ => Some((line, column)),
    };
    (format!("{event:?}"), at)
}

fn saphyr(text: &str) -> Option<Vec<Seen>> {
    let mut events = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        events.push(seen(&event, span.start.line(), span.start.col()));
    }
    Some(events)
}

fn fast(text: &str) -> Option<Vec<Seen>> {
    let mut scanner = Scanner::new(text);
    let mut events = Vec::new();
    while let Some((event, span)) = scanner.next() {
        events.push(seen(&event, span.start.line(), span.start.col()));
    }
    (!scanner.gave_up()).then_some(events)
}

/// Whether the fast scanner reads `text` to its end (for the reader's tests).
pub(in crate::yaml) fn reads(text: &str) -> bool {
    fast(text).is_some()
}

/// Whether the fast scanner read `text`; panics when it read it otherwise than saphyr.
fn agrees(text: &str) -> bool {
    let Some(ours) = fast(text) else { return false };
    assert_eq!(Some(ours), saphyr(text), "{text:?}");
    true
}

#[test]
fn a_suite_is_read_as_saphyr_reads_it() {
    let text = "# yaml-language-server: $schema=x\ndescription: scale\ntargets: [reply]\ntests:\n  - name: ticket 0\n    vars: { ticket: \"charged twice, order 0\" }\n    assert:\n      - { type: regex, value: \"order \\\\d+ is\" }\n      - { type: equals, value: 'it''s' } # why\n  - name:\n    list:\n    - a\n    -\n    - 'b'\n  -   name: two\n  - plain é\n  -\n    k: v\n  - [a, {k: [1, 2]}]\nnested:\n  a:\n    b: c\nlast:";
    assert!(agrees(text));
    assert!(agrees(&text.replace('\n', "\n\n")));
}

#[test]
fn what_it_does_not_read_it_leaves() {
    for text in [
        "a: &x 1\nb: *x\n",
        "a: !t 1\n",
        "a: |\n  block\n",
        "a: b\n  c\n",
        "a: \"b\n  c\"\n",
        "a: [1,\n  2]\n",
        "a:\tb\n",
        "a: b\r\n",
        "---\na: b\n",
        "a: b\n...\n",
        "? a\n: b\n",
        "a: \"\\x41\"\n",
        "plain\n",
        "a: b: c\n",
        "[a]: b\n",
        "a: [ -a -]\n",
        "",
        "# only a comment\n",
    ] {
        assert!(!agrees(text), "{text:?}");
    }
}

/// xorshift: the same texts on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[usize::try_from(self.next() % from.len() as u64).expect("small")]
    }
}

#[test]
fn glued_fragments_are_read_as_saphyr_reads_them_or_left() {
    let fragments = [
        "a", "key", "-", "- ", ":", ": ", " ", "  ", "\n", "\n  ", "\n    ", "\n- ", "\n  - ", "#", " #c", "\"", "'",
        "[", "]", "{", "}", ",", ", ", "x y", "1", "-1", "~", "true", "\\", "\\n", "\\\"", "é", "?", "&a", "*a", "!t",
        "|", ">", "%", "@", "''", "a:b", "-a", ":x", "\t", "\r\n", "---",
    ];
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let mut read = 0;
    for _ in 0..30_000 {
        let mut text = String::new();
        for _ in 0..=random.next() % 30 {
            text.push_str(random.pick(&fragments));
        }
        read += usize::from(agrees(&text));
    }
    assert!(read > 300, "the scanner read {read} texts: too few to compare");
}

fn scalar(random: &mut Random) -> String {
    match random.next() % 4 {
        0 => format!("\"{}\"", random.pick(&["a", "b\\\\d", "x\\\"y", "é", "a: b", "", "t\\tx", "\\u0041", "#x"])),
        1 => format!("'{}'", random.pick(&["a", "it''s", "", "x: y", "\\d", "#c"])),
        _ => random
            .pick(&["a", "ticket 0", "x: y", "a:b", "-1", "0x1F", "~", "null", "it's", "a #b", "a#b", "é ü", "{{ x }}"])
            .to_owned(),
    }
}

fn flow(random: &mut Random, depth: u32) -> String {
    if depth > 2 || random.next().is_multiple_of(3) {
        return scalar(random);
    }
    let separator = random.pick(&[", ", ",", " , "]);
    let (open, close) = (random.pick(&["", " "]), random.pick(&["", " "]));
    let items: Vec<String> = if random.next().is_multiple_of(2) {
        (0..random.next() % 4).map(|_| flow(random, depth + 1)).collect()
    } else {
        let pairs = (0..random.next() % 4).map(|_| {
            let key = scalar(random);
            format!("{key}:{}{}", random.pick(&[" ", "  ", ""]), flow(random, depth + 1))
        });
        return format!("{{{open}{}{close}}}", pairs.collect::<Vec<_>>().join(separator));
    };
    format!("[{open}{}{close}]", items.join(separator))
}

fn block(random: &mut Random, indent: usize, depth: u32, out: &mut String) {
    let pad = " ".repeat(indent);
    let list = random.next().is_multiple_of(2);
    for _ in 0..=random.next() % 3 {
        out.push_str(&pad);
        if list {
            out.push_str(random.pick(&["- ", "-  ", "-"]));
        } else {
            out.push_str(&scalar(random));
            out.push_str(random.pick(&[": ", ":", " : ", ":  "]));
        }
        if depth < 3 && random.next().is_multiple_of(4) {
            out.push_str(random.pick(&["", " # c", "  "]));
            out.push('\n');
            let deeper = if !list && random.next().is_multiple_of(3) { 0 } else { 1 + random.next() % 3 };
            block(random, indent + usize::try_from(deeper).expect("small"), depth + 1, out);
        } else {
            out.push_str(&flow(random, 0));
            out.push_str(random.pick(&["", " # c", "  ", "#x"]));
            out.push('\n');
        }
        if random.next().is_multiple_of(10) {
            out.push_str(random.pick(&["\n", "  \n", "    x\n", "# c\n"]));
        }
    }
}

#[test]
fn generated_documents_are_read_as_saphyr_reads_them_or_left() {
    let mut random = Random(0x2545_F491_4F6C_DD1D);
    let mut read = 0;
    for _ in 0..20_000 {
        let mut text = String::new();
        block(&mut random, 0, 0, &mut text);
        if random.next().is_multiple_of(3) {
            let mut at = usize::try_from(random.next() % (text.len() as u64 + 1)).expect("small");
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.insert_str(at, random.pick(&[" ", "-", ":", "#", "\n", "'", "\"", "[", "{", "  "]));
        }
        read += usize::from(agrees(&text));
    }
    assert!(read > 1_000, "the scanner read {read} texts: too few to compare");
}
