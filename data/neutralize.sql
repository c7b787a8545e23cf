-- A neutralized copy (staging, restored backup) must neither reach the production engine
-- account nor keep its credentials.
DELETE FROM invoice_engine_token;
UPDATE invoice_engine
   SET fakturoid_client_secret = NULL,
       fakturownia_api_token = NULL,
       smartbill_token = NULL,
       auto_send = false,
       state = 'draft';
