// The one list of hostile characters of closeout's tests, included (`include!`) by the
// plan file's unit tests (src/planfile/tests.rs: the writer must escape each) and by the
// tamper suite (tests/scenarios/tamper.rs: the reader must refuse each when a forger puts
// it raw into a plan file). Line breaks other than `\n`, C0 and C1 controls, bidirectional
// and invisible formatting characters, a tag character, a filler and a noncharacter.

/// Line breaks other than `\n`, controls and invisible formatting characters.
#[allow(dead_code)]
const HOSTILE_CHARS: &[char] = &[
    '\r',
    '\u{85}',
    '\u{2028}',
    '\u{2029}',
    '\u{b}',
    '\u{c}',
    '\u{0}',
    '\u{1b}',
    '\u{7}',
    '\u{8}',
    '\t',
    '\u{7f}',
    '\u{80}',
    '\u{9b}',
    '\u{202a}',
    '\u{202b}',
    '\u{202c}',
    '\u{202d}',
    '\u{202e}',
    '\u{2066}',
    '\u{2067}',
    '\u{2068}',
    '\u{2069}',
    '\u{200b}',
    '\u{200c}',
    '\u{200d}',
    '\u{200e}',
    '\u{200f}',
    '\u{feff}',
    '\u{ad}',
    '\u{2060}',
    '\u{2061}',
    '\u{e0041}',
    '\u{3164}',
    '\u{fffe}',
];
