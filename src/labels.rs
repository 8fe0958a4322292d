//! Closed sets of label values: an enum written once, whose values are both what is counted
//! where things happen and the series created at zero at start-up, so the two cannot drift
//! apart. A leaf: the storage floor's outcomes use it as much as the metrics do.

/// An enum of label values with `as_str` (the label value) and `ALL` (every value, in order),
/// both generated from the one list.
macro_rules! closed_labels {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident => $value:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// Every value, so each series can exist from the first scrape.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $value,)+
                }
            }
        }
    };
}
pub(crate) use closed_labels;
