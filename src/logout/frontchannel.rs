//! OpenID Connect Front-Channel Logout 1.0: the page that signs a browser out of authd loads,
//! in hidden iframes, the `frontchannel_logout_uri` of every client whose session ends with
//! it, so each application can clear its own cookies in the same browser.

use url::Url;

use crate::store::ClientRecord;

/// One client's front-channel page, and the origin the sign-out page's CSP must let it frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontChannelPage {
    pub uri: String,
    pub origin: String,
}

/// The page to load for `client`'s session `sid`, if the client registered a front channel:
/// with `iss` and `sid` added to its query when it asked for them (§2).
pub fn front_channel_page(
    client: &ClientRecord,
    issuer: &str,
    sid: &str,
) -> Option<FrontChannelPage> {
    let registered = client.logout.frontchannel_uri.as_deref()?;
    let mut url = Url::parse(registered).ok()?;
    if client.logout.frontchannel_session_required {
        url.query_pairs_mut()
            .append_pair("iss", issuer)
            .append_pair("sid", sid);
    }
    let origin = url.origin().ascii_serialization();
    // A URI whose origin is opaque cannot be registered; nor can it be framed.
    if origin == "null" {
        return None;
    }
    Some(FrontChannelPage {
        uri: url.into(),
        origin,
    })
}
