//! Threads we own (I/O, streaming, pad and reconnection threads) turn a panic into an element
//! error instead of stopping silently: a thread that dies without a word leaves the pipeline
//! waiting for data that never comes.

use std::any::Any;

/// Runs `body`; a panic comes back as its message.
pub fn catch<T>(body: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
        .map_err(|payload| message(payload.as_ref()))
}

fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_owned()
    }
}

/// Unit tests make a thread panic where `name` (an element or host name) is
/// `inject-panic-POINT`; nothing happens outside tests.
#[inline]
pub fn inject(name: &str, point: &str) {
    #[cfg(test)]
    if name.strip_prefix("inject-panic-") == Some(point) {
        panic!("panic injected at {point}");
    }
    #[cfg(not(test))]
    let _ = (name, point);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        assert_eq!(catch(|| 5), Ok(5));
        assert_eq!(catch(|| panic!("plain")), Err::<(), _>("plain".into()));
        let n = 3;
        assert_eq!(
            catch(|| panic!("formatted {n}")),
            Err::<(), _>("formatted 3".into())
        );
        assert_eq!(
            catch(|| inject("inject-panic-here", "here")),
            Err("panic injected at here".into())
        );
        assert_eq!(catch(|| inject("inject-panic-here", "there")), Ok(()));
    }
}
