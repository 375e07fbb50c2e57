//! AWS's wording for S3 errors. s3s leaves `<Message>` out of an error
//! raised with a code only (`s3_error!(NoSuchKey)`, and its own parsing
//! errors such as InvalidBucketName); AWS always sends one, and some clients
//! show nothing else. The request-id layer fills it in from here.

/// AWS's message for `code`, for the codes the gateway or s3s raise.
pub fn default_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "AccessDenied" => "Access Denied",
        "BadDigest" => "The Content-MD5 you specified did not match what we received.",
        "BucketAlreadyExists" => {
            "The requested bucket name is not available. The bucket namespace is shared by all \
             users of the system. Please select a different name and try again."
        }
        "BucketAlreadyOwnedByYou" => {
            "Your previous request to create the named bucket succeeded and you already own it."
        }
        "BucketNotEmpty" => "The bucket you tried to delete is not empty",
        "EntityTooLarge" => "Your proposed upload exceeds the maximum allowed object size.",
        "EntityTooSmall" => "Your proposed upload is smaller than the minimum allowed object size.",
        "IncompleteBody" => {
            "You did not provide the number of bytes specified by the Content-Length HTTP header"
        }
        "InternalError" => "We encountered an internal error. Please try again.",
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "InvalidBucketName" => "The specified bucket is not valid.",
        "InvalidDigest" => "The Content-MD5 you specified is not valid.",
        "InvalidPart" => {
            "One or more of the specified parts could not be found.  The part may not have been \
             uploaded, or the specified entity tag may not match the part's entity tag."
        }
        "InvalidPartOrder" => {
            "The list of parts was not in ascending order. Parts must be ordered by part number."
        }
        "InvalidRange" => "The requested range is not satisfiable",
        "InvalidURI" => "Couldn't parse the specified URI.",
        "KeyTooLongError" => "Your key is too long.",
        "MalformedXML" => {
            "The XML you provided was not well-formed or did not validate against our published \
             schema"
        }
        "MetadataTooLarge" => "Your metadata headers exceed the maximum allowed metadata size.",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "NoSuchBucket" => "The specified bucket does not exist",
        "NoSuchKey" => "The specified key does not exist.",
        "NoSuchUpload" => {
            "The specified multipart upload does not exist. The upload ID may be invalid, or the \
             upload may have been aborted or completed."
        }
        "NotImplemented" => "A header you provided implies functionality that is not implemented",
        "PreconditionFailed" => "At least one of the pre-conditions you specified did not hold",
        "RequestTimeTooSkewed" => {
            "The difference between the request time and the current time is too large."
        }
        "ServiceUnavailable" => "Please reduce your request rate.",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. \
             Check your key and signing method."
        }
        _ => return None,
    })
}

/// `body` (an S3 XML error) with AWS's `<Message>` after its `<Code>` when
/// it has none; `None` if there is nothing to add.
pub fn with_default_message(body: &str) -> Option<String> {
    if body.contains("<Message>") {
        return None;
    }
    let start = body.find("<Code>")? + "<Code>".len();
    let len = body[start..].find("</Code>")?;
    let message = default_message(&body[start..start + len])?;
    let at = start + len + "</Code>".len();
    let mut out = String::with_capacity(body.len() + message.len() + 20);
    out.push_str(&body[..at]);
    out.push_str("<Message>");
    out.push_str(message);
    out.push_str("</Message>");
    out.push_str(&body[at..]);
    Some(out)
}

/// A POST form upload the signed policy does not cover: s3s answers 400
/// InvalidPolicyDocument naming the failed condition (or AccessDenied
/// "Request has expired"); AWS answers 403 AccessDenied "Invalid according
/// to Policy: ...". The AWS form of such an error body, if it is one.
pub fn as_policy_refusal(body: &str) -> Option<String> {
    let code_start = body.find("<Code>")? + "<Code>".len();
    let code = &body[code_start..code_start + body[code_start..].find("</Code>")?];
    let msg_start = body.find("<Message>")? + "<Message>".len();
    let msg_end = msg_start + body[msg_start..].find("</Message>")?;
    let message = &body[msg_start..msg_end];
    let reason = match code {
        "InvalidPolicyDocument" if message.starts_with("Policy condition") => {
            format!("Policy Condition failed: {message}")
        }
        "InvalidPolicyDocument" if message.starts_with("Bucket in form field") => {
            format!("Policy Condition failed: {message}")
        }
        "AccessDenied" if message == "Request has expired" => "Policy expired.".to_owned(),
        _ => return None,
    };
    let mut out = String::with_capacity(body.len() + 64);
    out.push_str(&body[..code_start]);
    out.push_str("AccessDenied");
    out.push_str(&body[code_start + code.len()..msg_start]);
    out.push_str("Invalid according to Policy: ");
    out.push_str(&reason);
    out.push_str(&body[msg_end..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_policy_failures_read_as_aws_answers_them() {
        let failed = "<Error><Code>InvalidPolicyDocument</Code><Message>Policy condition \
                      &apos;eq&apos; failed</Message></Error>";
        assert_eq!(
            as_policy_refusal(failed).as_deref(),
            Some(
                "<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy \
                 Condition failed: Policy condition &apos;eq&apos; failed</Message></Error>"
            )
        );
        let expired =
            "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        assert!(
            as_policy_refusal(expired)
                .unwrap()
                .contains("Policy expired.")
        );
        let other = "<Error><Code>InvalidPolicyDocument</Code><Message>failed to parse POST \
                     policy</Message></Error>";
        assert_eq!(as_policy_refusal(other), None);
        assert_eq!(
            as_policy_refusal("<Error><Code>NoSuchKey</Code></Error>"),
            None
        );
    }

    #[test]
    fn messages_are_added_only_when_missing() {
        let bare = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code></Error>";
        assert_eq!(
            with_default_message(bare).as_deref(),
            Some(
                "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>\
                 <Message>The specified key does not exist.</Message></Error>"
            )
        );
        let given = "<Error><Code>NoSuchKey</Code><Message>mine</Message></Error>";
        assert_eq!(with_default_message(given), None);
        let unknown = "<Error><Code>SomethingElse</Code></Error>";
        assert_eq!(with_default_message(unknown), None);
        assert_eq!(with_default_message("not xml"), None);
        assert_eq!(
            default_message("InvalidBucketName"),
            Some("The specified bucket is not valid.")
        );
    }
}
