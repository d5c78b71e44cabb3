//! Keras's kernel initializers, by name. The sampling is the runtime's
//! (`init`); the macro checks the names.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Initializer {
    GlorotUniform,
    GlorotNormal,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    Zeros,
    Ones,
}

impl Initializer {
    pub const ALL: [Initializer; 8] = [
        Initializer::GlorotUniform,
        Initializer::GlorotNormal,
        Initializer::HeNormal,
        Initializer::HeUniform,
        Initializer::LecunNormal,
        Initializer::LecunUniform,
        Initializer::Zeros,
        Initializer::Ones,
    ];

    pub const fn keras_name(self) -> &'static str {
        match self {
            Initializer::GlorotUniform => "glorot_uniform",
            Initializer::GlorotNormal => "glorot_normal",
            Initializer::HeNormal => "he_normal",
            Initializer::HeUniform => "he_uniform",
            Initializer::LecunNormal => "lecun_normal",
            Initializer::LecunUniform => "lecun_uniform",
            Initializer::Zeros => "zeros",
            Initializer::Ones => "ones",
        }
    }

    pub fn from_keras(name: &str) -> Option<Initializer> {
        Initializer::ALL.iter().copied().find(|i| i.keras_name() == name)
    }
}
