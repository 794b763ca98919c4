/** @odoo-module **/
// The inbox's folder tree: the mailbox opens unfolded with its unread count, a
// subfolder sits under INBOX, each folder shows its own mail, and My Folders shows
// the mail moved there.
import { registry } from "@web/core/registry";

const label = (name) => `.o_search_panel_label_title:contains(${name})`;
const header = (name) => `.o_search_panel_category_value header:has(${label(name)})`;
const only = (shown, hidden) =>
    `.o_list_renderer:has(.o_data_row:contains(${shown})):not(:has(.o_data_row:contains(${hidden})))`;

registry.category("web_tour.tours").add("crm_mail_sync_folder_tree_tour", {
    url: "/odoo/action-crm_mail_sync.crm_mail_email_action",
    steps: () => [
        {
            content: "The mailbox is unfolded, with its two unread emails",
            trigger: `${header("Tree mailbox")} .o_search_panel_counter:contains(2)`,
        },
        {
            content: "Open INBOX",
            trigger: label("INBOX"),
            run: "click",
        },
        {
            content: "INBOX shows its own mail only",
            trigger: only("Tree inbox hello", "Tree project news"),
        },
        {
            content: "Projects sits under INBOX, with one unread email",
            trigger: `${header("Projects")} .o_search_panel_counter:contains(1)`,
        },
        {
            content: "Open Projects",
            trigger: label("Projects"),
            run: "click",
        },
        {
            content: "Projects shows its mail",
            trigger: only("Tree project news", "Tree inbox hello"),
        },
        {
            content: "Open the inbox folder the project email was moved to",
            trigger: label("Tree deals"),
            run: "click",
        },
        {
            content: "The moved email is there",
            trigger: only("Tree project news", "Tree inbox hello"),
        },
    ],
});
