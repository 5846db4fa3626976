// These machines run Node 20 while Lambda runs 22; the AWS SDK's warning about that is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
