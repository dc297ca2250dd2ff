//! Hybrid logical clock: wall-clock milliseconds plus a counter, so a device's edits are ordered
//! even when its clock stands still or jumps back. Devices stamp every mutation; the server never
//! trusts the wall part further than its own clock (see `merge::WinKey`).

use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hlc {
    /// Milliseconds since the Unix epoch.
    pub wall: i64,
    pub counter: u32,
}

impl Hlc {
    /// The next timestamp for a local event at physical time `now_ms`.
    #[must_use]
    pub fn tick(self, now_ms: i64) -> Hlc {
        if now_ms > self.wall {
            Hlc {
                wall: now_ms,
                counter: 0,
            }
        } else {
            Hlc {
                wall: self.wall,
                counter: self.counter + 1,
            }
        }
    }

    /// Merges a timestamp received from elsewhere (the server's clock on a pull).
    #[must_use]
    pub fn observe(self, remote: Hlc, now_ms: i64) -> Hlc {
        let wall = self.wall.max(remote.wall).max(now_ms);
        let counter = if wall == self.wall && wall == remote.wall {
            self.counter.max(remote.counter) + 1
        } else if wall == self.wall {
            self.counter + 1
        } else if wall == remote.wall {
            remote.counter + 1
        } else {
            0
        };
        Hlc { wall, counter }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_monotonic_when_the_clock_goes_back() {
        let a = Hlc::default().tick(1000);
        let b = a.tick(500);
        let c = b.tick(1000);
        assert!(a < b && b < c);
        assert_eq!(
            c,
            Hlc {
                wall: 1000,
                counter: 2
            }
        );
    }

    #[test]
    fn observe_moves_past_the_remote() {
        let local = Hlc {
            wall: 100,
            counter: 3,
        };
        let remote = Hlc {
            wall: 200,
            counter: 7,
        };
        let m = local.observe(remote, 150);
        assert!(m > remote && m > local);
    }
}
