-- A neutralized copy (staging, restored backup) must neither reach the production engine
-- account nor keep its credentials.
UPDATE invoice_engine
   SET fakturoid_client_secret = NULL,
       oauth_access_token = NULL,
       oauth_refresh_token = NULL,
       oauth_token_expires_at = NULL,
       auto_send = false,
       state = 'draft';
