//! A member as the web app and `palaver chat` run one: the shared client
//! model ([`shared::client::Client`]) fed every frame from a real socket,
//! its answers sent back, so a test sees what the client logic does with
//! what the relay says.

use shared::{ClientMsg, ServerMsg};

use crate::client::{room, Client};

pub struct Member {
    pub socket: Client,
    pub model: shared::client::Client,
}

impl Member {
    /// A new user `nick`, joined to `name` with its history loaded.
    pub async fn join(url: &str, nick: &str, name: &str) -> Member {
        let socket = Client::connect(url).await.unwrap();
        let mut model = shared::client::Client::new(nick);
        model.set_nick(shared::Nick::new(nick).unwrap());
        model.join(room(name));
        let mut member = Member { socket, model };
        let hello = member.model.connected();
        member.send(hello).await;
        member
            .until(|m| m.room(&room(name)).is_some_and(|r| r.last_seq().is_some()))
            .await;
        member
    }

    /// Another device of the user whose resume token is `resume`, joined
    /// to the `rooms` the relay lists for it.
    pub async fn device(url: &str, resume: &str) -> Member {
        let socket = Client::connect(url).await.unwrap();
        let mut model = shared::client::Client::new("device");
        model.set_resume_token(Some(resume.to_owned()));
        let mut member = Member { socket, model };
        let hello = member.model.connected();
        member.send(hello).await;
        member
            .until(|m| {
                !m.rooms().is_empty()
                    && m.rooms()
                        .iter()
                        .all(|r| r.membership() == shared::client::Membership::Joined)
            })
            .await;
        member
    }

    pub async fn send(&mut self, frames: Vec<ClientMsg>) {
        for frame in frames {
            self.socket.send(&frame).await.unwrap();
        }
    }

    /// Applies frames until `done` holds (each wait bounded by `WAIT`);
    /// returns the frames applied.
    pub async fn until(
        &mut self,
        done: impl Fn(&shared::client::Client) -> bool,
    ) -> Vec<ServerMsg> {
        let mut seen = Vec::new();
        while !done(&self.model) {
            let frame = self.socket.recv().await.unwrap();
            let applied = self.model.apply(frame.clone(), 0);
            seen.push(frame);
            self.send(applied.frames).await;
        }
        seen
    }
}
