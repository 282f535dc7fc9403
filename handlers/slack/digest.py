"""The weekly digest in a Slack staff channel: its chart uploaded with Slack's current file upload API (slack_sdk's
files_upload_v2: files.getUploadURLExternal, the upload, files.completeUploadExternal), the text as its comment."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.outbound import Refused, RetryLater, SendResult, Sent, StaffDigest
from handlers.slack.blocks import TEXT_LIMIT, escaped
from handlers.slack.common import Services, log, log_api_error, send_failure

FILENAME = "weekly-digest.png"
ALT_TEXT = "CSAT and NPS by week, each with its 95 % interval"


async def send(services: Services, message: StaffDigest) -> SendResult:
    """Uploads the chart into the channel with the digest as its comment (escaped: Slack reads it as mrkdwn)."""
    await services.pacer.wait(message.target)
    try:
        uploaded = await services.client.files_upload_v2(
            channel=message.target,
            file=message.chart_png,
            filename=FILENAME,
            title=message.title,
            alt_txt=ALT_TEXT,
            initial_comment=escaped(message.text)[:TEXT_LIMIT],
        )
    except SlackApiError as error:
        if error.response.get("error") == "missing_scope":  # an app installed before the digest asked for files:write
            log_api_error("files_upload_v2", error)
            log.error("slack refuses the digest's chart: reinstall the app so that it has the files:write scope")
            return Refused("missing_scope")
        return send_failure("files_upload_v2", error, to_person=False)
    except SlackRequestError:  # the upload itself, to the URL Slack handed out, failed after slack_sdk's retries
        log.error("slack file upload of the digest failed; it is tried again later")
        return RetryLater("the file upload failed")
    return Sent(str(uploaded["file"]["id"]))
