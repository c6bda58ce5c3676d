//! Deterministic embeddings: a hashed bag of words, L2-normalised. Texts that share words point
//! the same way, so cosine similarity ranks "the cat sat" closer to "a cat sat down" than to
//! "stock prices fell". Same text and size give the same vector on every run and machine.

/// The embedding of `text` with `dimensions` components (at least 1).
///
/// Words are maximal runs of alphanumeric characters, lowercased. Each word is hashed with
/// 64-bit FNV-1a; the hash picks a component (`hash % dimensions`) and a sign (the top bit), and
/// adds ±1 there. The vector is then scaled to length 1. A text without words embeds as the first
/// unit vector, so cosine similarity is always defined.
pub fn embed(text: &str, dimensions: usize) -> Vec<f32> {
    let dimensions = dimensions.max(1);
    let mut vector = vec![0.0_f32; dimensions];
    let lowered = text.to_lowercase();
    for word in lowered.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()) {
        let hash = fnv1a(word.as_bytes());
        // `dimensions` fits in u64 and the remainder is below it, so both conversions are lossless.
        let index = (hash % dimensions as u64) as usize;
        vector[index] += if hash >> 63 == 0 { 1.0 } else { -1.0 };
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        vector[0] = 1.0;
    } else {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// Cosine similarity of two vectors of equal length (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norms = a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norms == 0.0 { 0.0 } else { dot / norms }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_length_and_deterministic() {
        let vector = embed("Hello, world!", 32);
        assert_eq!(vector.len(), 32);
        assert!((vector.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(vector, embed("hello world", 32));
        assert_eq!(embed("", 8)[0], 1.0);
    }

    #[test]
    fn shared_words_mean_similar_vectors() {
        let cat = embed("the cat sat on the mat", 256);
        let near = embed("a cat sat on a mat", 256);
        let far = embed("stock prices fell sharply today", 256);
        assert!(cosine(&cat, &near) > 0.5);
        assert!(cosine(&cat, &near) > cosine(&cat, &far));
    }
}
