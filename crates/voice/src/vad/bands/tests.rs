use super::*;

/// Deterministic uniform numbers in [0, 1) (xorshift).
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// One band's levels.
fn levels(count: usize, mut level: impl FnMut(usize) -> f32) -> Levels<1> {
    let mut levels = Levels::new();
    for i in 0..count {
        levels.push([level(i)]);
    }
    levels
}

#[test]
fn steady_noise_is_steady_and_a_crowds_levels_are_not() {
    let mut u = Uniform(7);
    // Traffic in a band: within a few dB of its level from frame to frame.
    let traffic = levels(LEVEL_FRAMES, |_| -50.0 + 3.0 * u.next());
    assert!(traffic.is_steady(0, 5.0));
    // A crowd: seldom near its quietest, so its 20th percentile sits
    // about 8 dB over its minimum (babble measured 11–15 dB).
    let crowd = levels(LEVEL_FRAMES, |_| -50.0 + 18.0 * u.next().sqrt());
    assert!(!crowd.is_steady(0, 5.0));
}

#[test]
fn a_talker_with_pauses_leaves_the_noise_steady() {
    let mut u = Uniform(8);
    // Two thirds of the frames carry the caller's voice 15 dB over the
    // noise; the pauses between syllables show the noise itself.
    let talk = levels(LEVEL_FRAMES, |i| {
        if i % 3 == 2 {
            -50.0 + 3.0 * u.next()
        } else {
            -35.0 + 6.0 * u.next()
        }
    });
    assert!(talk.is_steady(0, 5.0));
}

#[test]
fn nothing_is_steady_before_a_second_of_levels_and_old_levels_fall_out() {
    let quiet = |_| -50.0;
    assert!(!levels(MIN_LEVEL_FRAMES - 1, quiet).is_steady(0, 5.0));
    assert!(levels(MIN_LEVEL_FRAMES, quiet).is_steady(0, 5.0));
    // Four seconds of a crowd, then four of steady noise: the window holds
    // only the noise again.
    let mut u = Uniform(9);
    let mut both = levels(LEVEL_FRAMES, |_| -50.0 + 18.0 * u.next().sqrt());
    assert!(!both.is_steady(0, 5.0));
    for _ in 0..LEVEL_FRAMES {
        both.push([-40.0]);
    }
    assert!(both.is_steady(0, 5.0));
}

#[test]
fn each_band_is_judged_on_its_own_levels() {
    let mut u = Uniform(10);
    let mut levels = Levels::<2>::new();
    for _ in 0..LEVEL_FRAMES {
        let traffic = -50.0 + 3.0 * u.next();
        let crowd = -50.0 + 18.0 * u.next().sqrt();
        levels.push([traffic, crowd]);
    }
    assert!(levels.is_steady(0, 5.0), "the traffic band is steady");
    assert!(!levels.is_steady(1, 5.0), "the crowd's band is not");
}
