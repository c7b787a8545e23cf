/** @odoo-module */
// The accountant's main paths, clicked in a real browser (tests/test_tours.py prepares the data
// and checks what each tour left behind).

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

const tours = registry.category("web_tour.tours");

// The Fakturownia sandbox's API token (tests/harness_fakturownia.py): a test value, not a secret.
const SANDBOX_TOKEN = "Fk7Qm2Xw9Lp4Rt6Zv1Bn";

tours.add("account_invoice_engine_configure", {
    steps: () => [
        {
            content: "Open the invoice engines from the Invoicing settings",
            trigger: "button[name=action_open_invoice_engines]",
            run: "click",
        },
        {
            content: "Open the engine to set up",
            trigger: ".o_data_row td:contains(Tour Fakturownia)",
            run: "click",
        },
        {
            content: "The account link is marked as a sandbox",
            trigger: ".o_field_widget[name=api_environment]:contains(Sandbox)",
        },
        {
            content: "Type the API token",
            trigger: "div[name=fakturownia_api_token_input] input",
            run: `edit ${SANDBOX_TOKEN}`,
        },
        ...stepUtils.saveForm(),
        {
            content: "Test the connection",
            trigger: "button[name=action_test_connection]",
            run: "click",
        },
        {
            content: "The engine says it works",
            trigger: ".o_notification:contains(Connection works)",
        },
        {
            content: "The engine is connected",
            trigger: ".o_statusbar_status button.o_arrow_button_current:contains(Connected)",
        },
    ],
});

tours.add("account_invoice_engine_post", {
    steps: () => [
        {
            content: "Confirm the draft invoice",
            trigger: ".o_form_statusbar button[name=action_post]:contains(Confirm)",
            run: "click",
        },
        {
            content: "Posting queues it for the engine, without waiting for it",
            trigger: "div[name=engine_title] .o_field_widget[name=engine_state]:contains(Queued)",
        },
    ],
});

tours.add("account_invoice_engine_send_and_print", {
    steps: () => [
        {
            content: "The legal number and the engine's state show under the title",
            trigger: "div[name=engine_title]:contains(Legal number) .o_field_widget[name=engine_state]:contains(Sent)",
        },
        {
            content: "Open Send & Print",
            trigger: ".o_form_statusbar button[name=action_invoice_sent]",
            run: "click",
        },
        {
            content: "The e-mail attaches the engine's PDF",
            trigger: ".modal .o_field_widget[name=mail_attachments_widget]:contains(.pdf)",
        },
        {
            content: "Send it",
            trigger: ".modal button[name=action_send_and_print]",
            run: "click",
        },
        {
            content: "The e-mail is in the chatter",
            trigger: ".o-mail-Message:contains(invoices@customer.example), .o-mail-Message-body:contains(Dear)",
        },
    ],
});

tours.add("account_invoice_engine_anaf_once", {
    steps: () => [
        {
            content: "Open Send & Print on an invoice SmartBill issued",
            trigger: ".o_form_statusbar button[name=action_invoice_sent]",
            run: "click",
        },
        {
            content: "The wizard says in one line who submits the invoice to ANAF",
            trigger: ".modal .o_field_widget[name=alerts]:contains(SmartBill submits this invoice to ANAF)",
        },
        {
            content: "Odoo's own submission is shown, off and greyed",
            trigger: ".modal .o_field_widget[name=extra_edi_checkboxes]:contains(Send E-Factura to SPV) input:disabled:not(:checked)",
        },
        {
            content: "Its question mark gives the reason",
            trigger: ".modal .o_field_widget[name=extra_edi_checkboxes] i.fa-question-circle[title*='SmartBill submits this invoice to ANAF']",
        },
        {
            content: "Send it",
            trigger: ".modal button[name=action_send_and_print]",
            run: "click",
        },
        {
            content: "The e-mail is in the chatter",
            trigger: ".o-mail-Message:contains(facturi@client-test.ro), .o-mail-Message-body:contains(Dear)",
        },
    ],
});

tours.add("account_invoice_engine_fix_and_retry", {
    steps: () => [
        {
            content: "The invoice says what to fix",
            trigger: ".alert-danger:contains(has no country)",
        },
        {
            content: "The activity waits in the chatter",
            trigger: ".o-mail-Activity:contains(Fix and resend to)",
        },
        {
            content: "Open the customer",
            trigger: ".o_field_widget[name=partner_id] a.o_form_uri",
            run: "click",
        },
        {
            content: "Give it its country",
            trigger: "div[name=country_id] input",
            run: "edit Czech",
        },
        {
            content: "Choose Czech Republic",
            trigger: ".o-autocomplete--dropdown-item:contains(Czech Republic)",
            run: "click",
        },
        ...stepUtils.saveForm(),
        {
            content: "Back to the invoice",
            trigger: ".o_breadcrumb .breadcrumb-item a",
            run: "click",
        },
        {
            content: "Retry sending",
            trigger: ".o_form_statusbar button[name=action_engine_send]:contains(Retry sending)",
            run: "click",
        },
        {
            content: "It is queued again",
            trigger: "div[name=engine_title] .o_field_widget[name=engine_state]:contains(Queued)",
        },
    ],
});

tours.add("account_invoice_engine_relink_customer", {
    steps: () => [
        {
            content: "Open the Customers tab of the engine",
            trigger: ".o_notebook .nav-link:contains(Customers)",
            run: "click",
        },
        {
            content: "Edit the remote ID of the customer",
            trigger: "div[name=partner_binding_ids] .o_data_row td[name=remote_id]",
            run: "click",
        },
        {
            content: "Type the record it really is in the engine",
            trigger: "div[name=partner_binding_ids] .o_selected_row div[name=remote_id] input",
            run: "edit 424242 && click .o_form_sheet",
        },
        ...stepUtils.saveForm(),
        {
            content: "The customer is linked to the new record",
            trigger: "div[name=partner_binding_ids] td[name=remote_id]:contains(424242)",
        },
    ],
});

tours.add("account_invoice_engine_dashboard", {
    steps: () => [
        {
            content: "The sales journal's card counts what the engine could not take",
            trigger: ".o_kanban_record a:contains(to fix)",
            run: "click",
        },
        {
            content: "The list opens on the filter it names",
            trigger: ".o_searchview_facet:contains(Engine: to fix)",
        },
        {
            content: "The invoice to fix is there",
            trigger: ".o_data_row .o_field_cell[name=engine_state]:contains(Error)",
        },
    ],
});
