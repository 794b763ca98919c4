/** @odoo-module **/
// The inbox worked like a mail client: the folder tree counts the unread mail, a
// conversation opens as one thread with its quoted history folded, a reply is written
// from a template, and the mailbox's count falls as the mail is read.
import { registry } from "@web/core/registry";

const SUBJECT = "Conv tour order status";
const label = (name) => `.o_search_panel_label_title:contains(${name})`;
const header = (name) => `.o_search_panel_category_value header:has(${label(name)})`;
const THREAD = ".o_form_view .o_field_widget[name=conversation_html] iframe:iframe";

registry.category("web_tour.tours").add("crm_mail_sync_client_tour", {
    url: "/odoo/action-crm_mail_sync.crm_mail_email_action",
    steps: () => [
        {
            content: "The mailbox counts the conversation's two unread emails",
            trigger: `${header("Conv tour mailbox")} .o_search_panel_counter:contains(2)`,
        },
        {
            content: "Open the conversations",
            trigger: ".o_menu_sections a:contains(Conversations)",
            run: "click",
        },
        {
            content: "One row for the thread, unread, with its two messages",
            trigger: `.o_data_row.fw-bold:contains(${SUBJECT}) td[name=email_count]:contains(2)`,
        },
        {
            content: "Open the conversation",
            trigger: `.o_data_row:contains(${SUBJECT}) td[name=subject]`,
            run: "click",
        },
        {
            content: "Open its latest email",
            trigger: `.o_data_row:contains(Re: ${SUBJECT}) td[name=subject]`,
            run: "click",
        },
        {
            content: "Show the whole conversation",
            trigger: ".o_form_view .o_notebook .nav-link:contains(Conversation)",
            run: "click",
        },
        {
            content: "The thread holds the first email",
            trigger: `${THREAD} body:contains(Where is my order 7781)`,
        },
        {
            content: "and the reply's quoted history is folded",
            trigger: `${THREAD} details`,
        },
        {
            content: "Reply",
            trigger: ".o_form_view button[name=action_reply]",
            run: "click",
        },
        {
            content: "Pick a template",
            trigger: ".modal .o_field_widget[name=crm_mail_template_id] input",
            run: "edit Contact: ack",
        },
        {
            content: "The acknowledgement",
            trigger: ".ui-autocomplete .dropdown-item:contains(Contact: acknowledgement)",
            run: "click",
        },
        {
            content: "The template wrote the answer",
            trigger: ".modal .o_field_widget[name=body]:contains(we have received it)",
        },
        {
            content: "Send",
            trigger: ".modal-footer button[name=action_send_mail]",
            run: "click",
        },
        {
            content: "The composer is closed",
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "Back to the inbox",
            trigger: ".o_menu_sections a:contains(Inbox)",
            run: "click",
        },
        {
            content: "The mailbox now counts one unread email: the reply was read",
            trigger: `${header("Conv tour mailbox")} .o_search_panel_counter:contains(1)`,
        },
    ],
});
